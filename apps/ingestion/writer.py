"""Writing a batch: one transaction, psycopg binary COPY per table, each through its owner
(apps.logs.storage, apps.traces.storage, apps.metrics.storage: tables, columns and partitions are
theirs; the order of the columns in the rows built by apps.ingestion.batch follows their COPY).
One call per table per batch, never per row.

Durability contract: the caller answers 2xx only after `write_batch` returned, i.e. after
COMMIT; any database error rolls back the whole request and becomes 503 + Retry-After.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

import orjson
import psycopg
from django.db import DatabaseError, connection, transaction

from apps.dashboards import counts as event_counts
from apps.ingestion.batch import Batch, datetime_pg_micros, pg_datetime
from apps.ingestion.errors import IngestError
from apps.logs import counts
from apps.logs import storage as logs
from apps.metrics import storage as metrics
from apps.storage.copy import PreEncodedJsonbDumper
from apps.storage.counting import late_span, late_threshold
from apps.storage.partitions import days_between, forget_partitions
from apps.traces import storage as traces

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


def write_batch(project_id: int, batch: Batch) -> None:
    """Store the whole batch or nothing. Raises IngestError(503) when the database fails."""
    try:
        _ensure_partitions(batch)
        try:
            _write_once(project_id, batch)
        except psycopg.errors.CheckViolation:
            # A partition this process believed in was dropped (retention): relearn and retry once.
            forget_partitions()
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
            logs.copy_logs(raw, batch.logs)
            # counts.note_late_rows, in the rows' integer times (no datetime per row).
            threshold = datetime_pg_micros(late_threshold(now))
            span = late_span(list(map(itemgetter(logs.TS_COLUMN), batch.logs)), threshold)
            if span is not None:
                counts.note_late_range(raw, project_id, pg_datetime(span[0]), pg_datetime(span[1]))
        if batch.spans:
            traces.copy_spans(raw, batch.spans)
            starts = list(map(itemgetter(traces.START_COLUMN), batch.spans))
            event_counts.note_late_rows(raw, project_id, starts, now)
        if batch.points:
            new_series = metrics.write_points(raw, project_id, batch.points, batch.series)
            times = list(map(itemgetter(metrics.TS_COLUMN), batch.points))
            event_counts.note_late_rows(raw, project_id, times, now)
    metrics.remember_series(project_id, new_series)


def _ensure_partitions(batch: Batch) -> None:
    days = record_days(batch)
    if batch.logs:
        logs.ensure_partitions(days)
    if batch.spans:
        traces.ensure_partitions(days)
    if batch.points:
        metrics.ensure_point_partitions(days)


def record_days(batch: Batch) -> list[date]:
    """The UTC days from the earliest to the latest record's time (the partitions the batch
    needs), computed once per batch: billing asks first (do all records fall on today?), then
    the write reuses it. A batch holds one signal; an empty one has no days."""
    if batch.days is None:
        if batch.logs:
            first, last = _time_range(batch.logs, logs.TS_COLUMN)
            batch.days = days_between(pg_datetime(first), pg_datetime(last))
        elif batch.spans:
            batch.days = days_between(*_time_range(batch.spans, traces.START_COLUMN))
        elif batch.points:
            batch.days = days_between(*_time_range(batch.points, metrics.TS_COLUMN))
        else:
            batch.days = []
    return batch.days


def records_by_day(batch: Batch) -> dict[date, int]:
    """How many records fall on each UTC day. One pass over the times: only called for the rare
    batch whose records do not all fall on the day they arrive (see apps.ingestion.services)."""
    if batch.logs:
        times = [pg_datetime(t) for t in map(itemgetter(logs.TS_COLUMN), batch.logs)]
    elif batch.spans:
        times = list(map(itemgetter(traces.START_COLUMN), batch.spans))
    else:
        times = list(map(itemgetter(metrics.TS_COLUMN), batch.points))
    return dict(Counter(t.astimezone(UTC).date() for t in times))


def _time_range(rows: list[tuple[Any, ...]], column: int) -> tuple[Any, Any]:
    times = list(map(itemgetter(column), rows))  # map + itemgetter: C loops over a big batch
    return min(times), max(times)


def dumps_attributes(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value)
