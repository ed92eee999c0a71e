"""Writing a batch: one transaction, psycopg binary COPY per table.

Why not the ORM: one request carries thousands of records; COPY writes them in one round trip
at a fraction of the cost of INSERTs, and no model instance is built per record.
Durability contract: the caller answers 2xx only after `write_batch` returned, i.e. after
COMMIT; any database error rolls back the whole request and becomes 503 + Retry-After.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
import psycopg
from django.db import DatabaseError, connection, transaction
from psycopg.adapt import Dumper
from psycopg.postgres import types as pg_types
from psycopg.pq import Format

from apps.ingestion import partitions
from apps.ingestion.batch import Batch, datetime_pg_micros, pg_datetime
from apps.ingestion.errors import IngestError
from apps.logs import counts

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
EVENT_STALE = "dashboards_event_count_stale"
LOG_COPY = (
    "COPY logs_event (project_id, ts, observed_ts, level, service, trace_id, span_id, message, attributes,"
    " resource) FROM STDIN (FORMAT BINARY)"
)
# ts and observed_ts go as int8: rows carry them as timestamptz's binary form (batch.PG_EPOCH).
LOG_TYPES = ["int8", "int8", "int8", "int2", "text", "text", "text", "text", "jsonb", "jsonb"]
SPAN_COPY = (
    "COPY traces_span (project_id, trace_id, span_id, parent_span_id, name, kind, start_ts, end_ts,"
    " duration_ns, status_code, status_message, service, trace_state, attributes, resource, events, links)"
    " FROM STDIN (FORMAT BINARY)"
)
SPAN_TYPES = (
    "int8 text text text text int2 timestamptz timestamptz int8 int2 text text text jsonb jsonb jsonb jsonb"
).split()
POINT_COPY = (
    "COPY metrics_point (project_id, series_id, ts, start_ts, value, count, sum, min, max, bounds,"
    " bucket_counts, exp_scale, exp_zero_count, exp_positive_offset, exp_positive_counts,"
    " exp_negative_offset, exp_negative_counts) FROM STDIN (FORMAT BINARY)"
)
POINT_TYPES = (
    "int8 int8 timestamptz timestamptz float8 int8 float8 float8 float8"
    " float8[] int8[] int4 int8 int4 int8[] int4 int8[]"
).split()
SERIES_UPSERT = """
INSERT INTO metrics_series (project_id, name, type, unit, temporality, is_monotonic, labels, labels_hash)
SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[], %s::int2[], %s::bool[], %s::jsonb[], %s::bytea[])
ON CONFLICT (project_id, labels_hash) DO NOTHING
"""
SERIES_SELECT = (
    "SELECT labels_hash, id FROM metrics_series WHERE project_id = %s AND labels_hash = ANY(%s::bytea[])"
)

_SERIES_CACHE_LIMIT = 200_000
_series_ids: dict[tuple[int, bytes], int] = {}
_series_lock = threading.Lock()
JSONB_OID = pg_types["jsonb"].oid


class PreEncodedJsonbDumper(Dumper):
    """COPY picks dumpers by column type (set_types): rows carry jsonb already in binary format
    (apps.ingestion.batch.jsonb), so this dumper passes the bytes through untouched."""

    format = Format.BINARY
    oid = JSONB_OID

    def dump(self, obj: Any) -> Any:
        return obj


def write_batch(project_id: int, batch: Batch) -> None:
    """Store the whole batch or nothing. Raises IngestError(503) when the database fails."""
    try:
        _ensure_partitions(batch)
        try:
            _write_once(project_id, batch)
        except psycopg.errors.CheckViolation:
            # A partition this process believed in was dropped (retention): relearn and retry once.
            partitions.forget_partitions()
            _ensure_partitions(batch)
            _write_once(project_id, batch)
    except (DatabaseError, psycopg.Error) as exc:
        logger.warning("ingestion write failed, answering 503", extra={"error": str(exc)[:500]})
        raise IngestError(
            503, "Storage is unavailable; retry later.", retry_after=RETRY_AFTER_SECONDS
        ) from None


def _write_once(project_id: int, batch: Batch) -> None:
    new_series: dict[bytes, int] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        raw.adapters.register_dumper(None, PreEncodedJsonbDumper)
        # Stragglers older than the count tasks' late window: their minutes are noted for a
        # recount (apps.logs.counts, apps.dashboards.counts), in this transaction.
        now = datetime.now(UTC)
        if batch.logs:
            _copy(raw, LOG_COPY, LOG_TYPES, batch.logs)
            # counts.note_late_rows, in the rows' integer times (no datetime per row).
            threshold = datetime_pg_micros(counts.late_threshold(now))
            span = counts.late_span(list(map(itemgetter(1), batch.logs)), threshold)
            if span is not None:
                counts.note_late_range(raw, project_id, pg_datetime(span[0]), pg_datetime(span[1]))
        if batch.spans:
            _copy(raw, SPAN_COPY, SPAN_TYPES, batch.spans)
            counts.note_late_rows(raw, project_id, list(map(itemgetter(6), batch.spans)), now, EVENT_STALE)
        if batch.points:
            ids = _series_ids_for(raw, project_id, batch, new_series)
            rows = [(row[0], ids[row[1]], *row[2:]) for row in batch.points]
            _copy(raw, POINT_COPY, POINT_TYPES, rows)
            counts.note_late_rows(raw, project_id, list(map(itemgetter(2), batch.points)), now, EVENT_STALE)
    # Cache series ids only once committed: a rolled-back series row has no id to remember.
    if new_series:
        with _series_lock:
            if len(_series_ids) > _SERIES_CACHE_LIMIT:
                _series_ids.clear()
            _series_ids.update(((project_id, h), i) for h, i in new_series.items())


def _copy(cursor: Any, statement: str, types: list[str], rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy(statement) as copy:
        copy.set_types(types)
        write = copy.write_row
        for row in rows:
            write(row)


def _series_ids_for(
    cursor: Any, project_id: int, batch: Batch, new_series: dict[bytes, int]
) -> dict[bytes, int]:
    ids = {h: _series_ids[(project_id, h)] for h in batch.series if (project_id, h) in _series_ids}
    missing = sorted(h for h in batch.series if h not in ids)  # sorted: concurrent upserts lock in one order
    if missing:
        specs = [batch.series[h] for h in missing]
        cursor.execute(
            SERIES_UPSERT,
            [
                project_id,
                [s.name for s in specs],
                [s.type for s in specs],
                [s.unit for s in specs],
                [s.temporality for s in specs],
                [s.is_monotonic for s in specs],
                [s.labels_json.decode() for s in specs],
                missing,
            ],
        )
        cursor.execute(SERIES_SELECT, [project_id, missing])
        for labels_hash, series_id in cursor.fetchall():
            new_series[bytes(labels_hash)] = series_id
        ids.update(new_series)
    return ids


def _ensure_partitions(batch: Batch) -> None:
    for table, rows, column in (
        ("logs_event", batch.logs, 1),
        ("traces_span", batch.spans, 6),
        ("metrics_point", batch.points, 2),
    ):
        if rows:
            first, last = _time_range(rows, column)
            if table == "logs_event":
                first, last = pg_datetime(first), pg_datetime(last)
            partitions.ensure_partitions(table, partitions.days_between(first, last))


def _time_range(rows: list[tuple[Any, ...]], column: int) -> tuple[Any, Any]:
    times = list(map(itemgetter(column), rows))  # map + itemgetter: C loops over a big batch
    return min(times), max(times)


def dumps_attributes(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value)
