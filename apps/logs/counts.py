"""Maintaining logs_count_1m: per-minute counts by (project, level, service), from a watermark,
and its two narrower rollups (logs_count_level_1m, logs_count_service_1h) in the same transaction.

Each run recounts whole minutes from `counted_until - late window` up to the last finished
minute and *replaces* their counts (INSERT ... ON CONFLICT DO UPDATE SET count = EXCLUDED.count).
Replacing rather than adding is what makes a run idempotent: running twice, or a crashed run
being redone, writes the same numbers. Runs are serialised by the watermark row lock taken with
FOR UPDATE SKIP LOCKED: a second concurrent run finds the row locked and returns at once.

Logs arriving later than the late window (ingestion accepts timestamps 30 days back) fall behind
the recounted range: ingestion notes their minutes in logs_count_stale in the same transaction as
the rows (`note_late_rows`), and each run recounts the noted minutes of the noted projects
(`recount_stale`), so the counts catch up within a minute of the straggler's arrival.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from apps.storage.partitions import create_partitions, day_bounds

CHUNK = timedelta(hours=6)
MINUTE = timedelta(minutes=1)
RUN_BUDGET_SECONDS = 45.0  # beat fires every minute: leave the next run its slot

RECOUNT = """
INSERT INTO logs_count_1m (project_id, minute, level, service, count)
SELECT project_id, date_trunc('minute', ts), level, service, count(*)
FROM logs_event
WHERE project_id = ANY(%s) AND ts >= %s AND ts < %s
GROUP BY 1, 2, 3, 4
ON CONFLICT (project_id, minute, level, service)
DO UPDATE SET count = EXCLUDED.count WHERE logs_count_1m.count <> EXCLUDED.count
"""
# project_id = ANY(...) lets the (project_id, ts) index serve a narrow time window per project;
# a bare ts range would scan whole day partitions every minute.


LEVEL_ROLLUP = """
INSERT INTO logs_count_level_1m (project_id, minute, level, count)
SELECT project_id, minute, level, sum(count)
FROM logs_count_1m
WHERE project_id = ANY(%s) AND minute >= %s AND minute < %s
GROUP BY 1, 2, 3
ON CONFLICT (project_id, minute, level)
DO UPDATE SET count = EXCLUDED.count WHERE logs_count_level_1m.count <> EXCLUDED.count
"""
# Whole hours touched by the recount are re-summed from logs_count_1m, the current one included:
# an hour row is complete once its last minute has been counted.
SERVICE_ROLLUP = """
INSERT INTO logs_count_service_1h (project_id, hour, service, count)
SELECT project_id, date_trunc('hour', minute), service, sum(count)
FROM logs_count_1m
WHERE project_id = ANY(%s) AND minute >= %s AND minute < %s
GROUP BY 1, 2, 3
ON CONFLICT (project_id, hour, service)
DO UPDATE SET count = EXCLUDED.count WHERE logs_count_service_1h.count <> EXCLUDED.count
"""
COUNT_TABLES = ("logs_count_1m", "logs_count_level_1m", "logs_count_service_1h")


@dataclass(frozen=True)
class CountRun:
    chunks: int
    counted_until: datetime | None


def late_window() -> timedelta:
    return timedelta(minutes=settings.LOGS_COUNT_LATE_MINUTES)


def floor_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


# The notes tables of every CountTable (each registers its own): the only names the f-strings
# below accept.
STALE_TABLES: set[str] = set()


@dataclass(frozen=True)
class CountTable:
    """A per-minute count table kept by the scheme above — logs here, spans and points in
    apps.dashboards.counts: its watermark row (table names are constants, never input), its notes
    of stale minutes, where a first run starts, and how to recount [start, end) of every project
    (project_ids None) or of some."""

    watermark: str
    stale: str
    first_start: Callable[[CursorWrapper, datetime], datetime]
    recount: Callable[[datetime, datetime, CursorWrapper, list[int] | None], None]

    def __post_init__(self) -> None:
        STALE_TABLES.add(self.stale)


def advance(table: CountTable, now: datetime | None = None, budget: float = RUN_BUDGET_SECONDS) -> CountRun:
    """Advance the watermark chunk by chunk until caught up or out of time budget, then recount
    the minutes that stragglers made stale."""
    deadline = time.monotonic() + budget
    chunks, counted_until = 0, None
    while True:
        step = _count_one_chunk(table, floor_minute(now or datetime.now(UTC)))
        if step is None:
            break
        counted_until, caught_up = step
        chunks += 1
        if caught_up or time.monotonic() > deadline:
            break
    recount_stale(table)
    return CountRun(chunks, counted_until)


def count_logs(now: datetime | None = None, budget: float = RUN_BUDGET_SECONDS) -> CountRun:
    return advance(LOG_COUNTS, now, budget)


# A row older than this (relative to its arrival) may lie before the range the next run recounts:
# the late window minus a margin for a count task running a few minutes behind.
STALE_MARGIN = timedelta(minutes=5)


def late_threshold(now: datetime) -> datetime:
    """Rows older than this, arriving now, are noted by note_late_rows."""
    return now - late_window() + STALE_MARGIN


def note_late_rows(
    cursor: Any, project_id: int, timestamps: list[datetime], now: datetime, table: str = "logs_count_stale"
) -> None:
    """Called by ingestion inside its write transaction: note the minutes of rows that arrived
    too late for the regular recount (one row per batch; nothing when there are none)."""
    span = late_span(timestamps, late_threshold(now))
    if span is not None:
        note_late_range(cursor, project_id, *span, table)


def late_span(timestamps: list[Any], threshold: Any) -> tuple[Any, Any] | None:
    """The oldest and newest of the times before `threshold` (in any unit: ingestion's log rows
    carry integer times), or None; a single min() in the common case of none."""
    if not timestamps or min(timestamps) >= threshold:
        return None
    late = [ts for ts in timestamps if ts < threshold]
    return min(late), max(late)


def note_late_range(
    cursor: Any, project_id: int, first: datetime, last: datetime, table: str = "logs_count_stale"
) -> None:
    """Note the minutes from `first` to `last`, the oldest and newest late row of a batch."""
    if table not in STALE_TABLES:
        raise ValueError(table)
    cursor.execute(
        f"INSERT INTO {table} (project_id, minute_from, minute_to) VALUES (%s, %s, %s)",  # noqa: S608
        [project_id, floor_minute(first), floor_minute(last) + MINUTE],
    )


def claim_stale(
    cursor: CursorWrapper, table: str = "logs_count_stale"
) -> list[tuple[int, datetime, datetime]]:
    """Take (delete) up to 200 notes, oldest first; in the caller's transaction, so a crash leaves
    them for the next run, and SKIP LOCKED keeps two runs from claiming the same note."""
    if table not in STALE_TABLES:
        raise ValueError(table)
    cursor.execute(
        f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("  # noqa: S608 (a name from STALE_TABLES)
        f" SELECT ctid FROM {table} ORDER BY noted_at LIMIT 200 FOR UPDATE SKIP LOCKED))"
        " RETURNING project_id, minute_from, minute_to"
    )
    return list(cursor.fetchall())


def recount_stale(table: CountTable | None = None) -> int:
    """Recount the noted minutes, per project. Returns the number of notes handled."""
    table = table or LOG_COUNTS
    with transaction.atomic(), connection.cursor() as cursor:
        notes = claim_stale(cursor, table.stale)
        for project_id, minute_from, minute_to in notes:
            table.recount(minute_from, minute_to, cursor, [project_id])
    return len(notes)


def _count_one_chunk(table: CountTable, until: datetime) -> tuple[datetime, bool] | None:
    """Claims the watermark, recounts one chunk, commits. None when another run holds the claim."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT counted_until FROM {table.watermark} WHERE id = 1 FOR UPDATE SKIP LOCKED")  # noqa: S608
        row = cursor.fetchone()
        if row is None:
            return None
        watermark = row[0] or table.first_start(cursor, until)
        start = watermark - late_window()
        end = min(until, max(watermark, start) + CHUNK)
        if end > start:
            table.recount(start, end, cursor, None)
        new_watermark = max(watermark, end)
        cursor.execute(f"UPDATE {table.watermark} SET counted_until = %s WHERE id = 1", [new_watermark])  # noqa: S608
    return new_watermark, new_watermark >= until


def recount(
    start: datetime, end: datetime, cursor: CursorWrapper | None = None, project_ids: list[int] | None = None
) -> None:
    """Replace the counts of the whole minutes in [start, end) from logs_event (of every project,
    or of `project_ids`)."""
    if cursor is None:
        with transaction.atomic(), connection.cursor() as own:
            recount(start, end, own, project_ids)
        return
    first_hour = floor_hour(start)
    last_hour = floor_hour(end - timedelta(microseconds=1)) + timedelta(hours=1)
    ensure_count_partitions(_days(first_hour, last_hour))
    project_ids = project_ids if project_ids is not None else _project_ids(cursor)
    cursor.execute(RECOUNT, [project_ids, start, end])
    cursor.execute(LEVEL_ROLLUP, [project_ids, start, end])
    cursor.execute(SERVICE_ROLLUP, [project_ids, first_hour, last_hour])


def counted_until() -> datetime | None:
    """Where the log counts stand: minutes before it are in the count tables."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT counted_until FROM logs_count_watermark WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else None


def floor_hour(moment: datetime) -> datetime:
    return floor_minute(moment).replace(minute=0)


def _project_ids(cursor: CursorWrapper) -> list[int]:
    cursor.execute("SELECT id FROM projects_project ORDER BY id")
    return [row[0] for row in cursor.fetchall()]


def _first_partition_start(cursor: CursorWrapper) -> datetime | None:
    """Where a first run starts: the oldest logs_event partition (older data cannot exist)."""
    cursor.execute(
        "SELECT min(c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'logs_event'::regclass"
    )
    name = cursor.fetchone()[0]
    if not name:
        return None
    try:
        day = datetime.strptime(name.rsplit("_p", 1)[1], "%Y%m%d").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None
    return day + late_window()  # the first chunk then starts exactly at the partition start


def _days(start: datetime, end: datetime) -> list[date]:
    day, last = start.astimezone(UTC).date(), (end - timedelta(microseconds=1)).astimezone(UTC).date()
    days = []
    while day <= last:
        days.append(day)
        day += timedelta(days=1)
    return days


def ensure_count_partitions(days: list[date]) -> None:
    for table in COUNT_TABLES:
        ranges = [(f"{table}_p{day:%Y%m%d}", *day_bounds(day)) for day in days]
        create_partitions(table, ranges)


LOG_COUNTS = CountTable(
    watermark="logs_count_watermark",
    stale="logs_count_stale",
    first_start=lambda cursor, until: _first_partition_start(cursor) or until,
    recount=lambda start, end, cursor, project_ids: recount(start, end, cursor, project_ids),
)
