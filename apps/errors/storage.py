"""The storage of errors_event, its dedup keys and pending rows, owned here: day partitions, the COPY that
the Sentry endpoint writes through, and the retention drop. Nothing outside apps.errors names
these tables.

Events are telemetry like logs and spans (DESIGN.md §4): errors_event is range-partitioned by
day on `received`, written with one binary COPY per batch of requests (apps.errors.commit: the
events of concurrent requests share one transaction, where other telemetry has one per request),
and retention drops whole days. An event is written with the issue its hashes map to as far as
its process knows (apps.errors.hashmap; NULL for a hash never seen), together with its row in
errors_pendingevent, and acknowledged once that COMMIT returned; apps.errors.grouper counts it
into its issue shortly after, from the pending row (the design note there says how a crash in
between is picked up). Its id comes from the dedup statement (`nextval`), so both rows carry it.

Dedup by event_id. A unique index on a partitioned table must contain the partition key, so
(project_id, event_id) cannot be unique in errors_event itself: a retried event arrives later,
on another `received`. The keys live in errors_eventid instead — a small unpartitioned table
with that primary key, written in the same transaction as the events (INSERT … ON CONFLICT DO
NOTHING RETURNING tells which events are new, and only those are COPY'd). Keys are kept for
ERRORS_DEDUP_HOURS (default 24 h), then trimmed by the hourly retention task: an SDK retries
within seconds or minutes (offline caches of mobile SDKs within hours), and one row per event
for a whole retention period would grow as large as the events' own index.

The payload (`data`) is bytea: the event's JSON text LZ4-compressed here, in the web process
(`data_encode`), behind a leading byte no JSON text starts with; rows converted from the jsonb
column of before (migration 0011) hold plain JSON text. Nothing reads inside an event in SQL —
every reader takes the whole document (models.EventDataField decodes it) — and as jsonb each row
cost PostgreSQL its JSON parsing plus pglz compressing ~6 KiB into TOAST: measured backend CPU of
the COPY per 6.4 KiB event ~110 µs as jsonb, ~55 as text (pglz), ~8 as LZ4-compressed bytea (the
~1.1 KiB left stays inline: no TOAST at all), for ~3 µs of LZ4 in the web process. The column's
STORAGE EXTERNAL keeps PostgreSQL from compressing it a second time when a large event is toasted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import cramjam
import orjson
import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from apps.errors import hashmap
from apps.storage import partitions
from apps.storage.copy import PreEncodedJsonbDumper, copy_rows

TABLE = "errors_event"
DEDUP_TABLE = "errors_eventid"
COPY = (
    "COPY errors_event (id, project_id, issue_id, event_id, received, timestamp, level, title, release,"
    " environment, platform, trace_id, span_id, user_key, hashes, data) FROM STDIN (FORMAT BINARY)"
)
TYPES = (
    "int8 int8 int8 uuid timestamptz timestamptz text text text text text text text text jsonb bytea".split()
)
PENDING_COPY = (
    "COPY errors_pendingevent (event, project_id, received, issue_id, primary_hash, secondary_hash,"
    " level, release, environment, user_key) FROM STDIN (FORMAT BINARY)"
)
PENDING_TYPES = "int8 int8 timestamptz int8 text text text text text text".split()
TRIM_BATCH = 10_000
LZ4 = b"\x04"  # leads LZ4-compressed JSON in `data`; JSON text never starts with it


def data_encode(json_text: bytes) -> bytes:
    """The event's JSON text as `data` stores it: LZ4 block (with its size) behind LZ4."""
    return b"".join((LZ4, cramjam.lz4.compress_block(json_text)))  # (one copy of the block)


def data_decode(stored: bytes | memoryview) -> Any:
    """The event `data_encode` stored (or plain JSON text, as migrated rows hold it)."""
    raw = bytes(stored)
    if raw[:1] == LZ4:
        raw = bytes(cramjam.lz4.decompress_block(raw[1:]))
    return orjson.loads(raw)


@dataclass(slots=True)  # (not frozen: its __init__ then costs ~60 % more, for every event)
class EventRow:
    """One event as errors_event stores it; `hashes` is JSON text, `data` as `data_encode` made it."""

    project_id: int
    event_id: uuid.UUID
    received: datetime
    timestamp: datetime
    level: str
    title: str
    release: str
    environment: str
    platform: str
    trace_id: str
    span_id: str
    user_key: str
    hashes: bytes
    data: bytes
    primary: str  # the grouping hashes without their version ("" for no secondary), for the
    secondary: str  # issue they map to (apps.errors.hashmap) and the grouper's pending row
    # The project's source map upload epoch its frames were symbolicated under (None: no JS frame
    # to symbolicate); apps.errors.ingest.commit makes the row again if uploads moved on since.
    sourcemap_epoch: bytes | None = field(default=None, compare=False)

    def copy_row(self, pk: int, issue_id: int | None) -> tuple[Any, ...]:
        return (
            pk,
            self.project_id,
            issue_id,
            self.event_id,
            self.received,
            self.timestamp,
            self.level,
            self.title,
            self.release,
            self.environment,
            self.platform,
            self.trace_id,
            self.span_id,
            self.user_key,
            b"\x01" + self.hashes,  # jsonb's binary form: version byte + JSON text
            self.data,
        )

    def pending_row(self, pk: int, issue_id: int | None) -> tuple[Any, ...]:
        return (
            pk,
            self.project_id,
            self.received,
            issue_id,
            self.primary,
            self.secondary,
            self.level,
            self.release,
            self.environment,
            self.user_key,
        )


def partition_name(day: date) -> str:
    return partitions.partition_name(TABLE, day)


def ensure_partitions(days: Iterable[date]) -> None:
    partitions.ensure_day_partitions(TABLE, days)


def events_write(
    rows: Sequence[EventRow], in_transaction: Callable[[list[EventRow]], None] | None = None
) -> list[EventRow]:
    """Store the events not seen before (by project and event_id), all or nothing, in one
    transaction; returns those stored (the first row of each key). `in_transaction(stored)` runs
    inside that transaction (billing's write-path count while its meter is down). The rows may be
    those of many requests (apps.errors.commit): one transaction, one dedup statement and one COPY
    for all of them. Raises DatabaseError when storage fails."""
    if not rows:
        return []
    first: dict[tuple[int, uuid.UUID], EventRow] = {}
    for row in rows:
        first.setdefault((row.project_id, row.event_id), row)
    unique = list(first.values())
    ensure_partitions(partitions.days_between(*_received_range(unique)))
    try:
        return _write_once(unique, in_transaction)
    except psycopg.errors.CheckViolation:
        # A partition this process believed in was dropped (retention): relearn and retry once.
        partitions.forget_partitions()
        ensure_partitions(partitions.days_between(*_received_range(unique)))
        return _write_once(unique, in_transaction)
    except psycopg.Error as exc:  # COPY runs on the raw psycopg cursor, outside Django's wrapper
        raise DatabaseError(str(exc)) from exc


def _received_range(rows: Sequence[EventRow]) -> tuple[datetime, datetime]:
    times = [row.received for row in rows]
    return min(times), max(times)


def _write_once(
    rows: list[EventRow], in_transaction: Callable[[list[EventRow]], None] | None
) -> list[EventRow]:
    with transaction.atomic(), connection.cursor() as cursor:
        # One statement for "which of these are new" that also claims them: a concurrent retry
        # of the same event waits on the key row and then finds it taken.
        # The arrays travel as comma-separated text that PostgreSQL splits: psycopg dumps a
        # Python list element by element, which cost ~4 % of a worker's CPU for a batch's keys.
        # The new events' ids come with the answer, for their pending rows.
        cursor.execute(
            "INSERT INTO errors_eventid (project_id, event_id, received)"
            " SELECT * FROM unnest(string_to_array(%s, ',')::bigint[], string_to_array(%s, ',')::uuid[],"
            " string_to_array(%s, ',')::timestamptz[])"
            " ON CONFLICT DO NOTHING RETURNING project_id, event_id, nextval('errors_event_ids')",
            [
                ",".join([str(r.project_id) for r in rows]),
                ",".join([r.event_id.hex for r in rows]),
                ",".join([r.received.isoformat() for r in rows]),
            ],
        )
        new = {(project_id, event_id): pk for project_id, event_id, pk in cursor.fetchall()}
        fresh = [row for row in rows if (row.project_id, row.event_id) in new]
        if fresh:
            pks = [new[row.project_id, row.event_id] for row in fresh]
            issues = hashmap.issues_of(cursor, fresh)
            raw = cursor.cursor
            raw.adapters.register_dumper(None, PreEncodedJsonbDumper)
            copy_rows(
                raw, COPY, TYPES, [r.copy_row(pk, i) for r, pk, i in zip(fresh, pks, issues, strict=True)]
            )
            copy_rows(
                raw,
                PENDING_COPY,
                PENDING_TYPES,
                [r.pending_row(pk, i) for r, pk, i in zip(fresh, pks, issues, strict=True)],
            )
        if in_transaction is not None:
            in_transaction(fresh)
    return fresh


def drop_expired(cutoff: datetime) -> list[str]:
    """Drop the day partitions whose events all arrived before `cutoff`; returns the names."""
    return partitions.drop_expired(TABLE, cutoff)


def dedup_window() -> timedelta:
    return timedelta(hours=settings.ERRORS_DEDUP_HOURS)


def trim_dedup_keys(now: datetime) -> int:
    """Forget event ids older than the dedup window, TRIM_BATCH rows per statement so that no
    transaction holds many row locks. Safe to run twice or concurrently."""
    deleted = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM errors_eventid WHERE ctid = ANY(ARRAY("
                " SELECT ctid FROM errors_eventid WHERE received < %s LIMIT %s FOR UPDATE SKIP LOCKED))",
                [now - dedup_window(), TRIM_BATCH],
            )
            deleted += cursor.rowcount
            if cursor.rowcount < TRIM_BATCH:
                return deleted
