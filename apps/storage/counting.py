"""Per-minute count tables kept from a watermark: the scheme every count table shares (the log
counts of apps.logs.counts, the span and point counts of apps.dashboards.counts); each owner
supplies its table names and its recount, and names no other app's table.

Each run recounts whole minutes from `counted_until - late window` up to the last finished
minute and *replaces* their counts (INSERT ... ON CONFLICT DO UPDATE SET count = EXCLUDED.count).
Replacing rather than adding is what makes a run idempotent: running twice, or a crashed run
being redone, writes the same numbers. Runs are serialised by the watermark row lock taken with
FOR UPDATE SKIP LOCKED: a second concurrent run finds the row locked and returns at once.

Rows arriving later than the late window (ingestion accepts timestamps 30 days back) fall behind
the recounted range: ingestion notes their minutes in the table's notes of stale minutes in the
same transaction as the rows (`note_late_rows`), and each run recounts the noted minutes of the
noted projects (`recount_stale`), so the counts catch up within a minute of the straggler's arrival.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

CHUNK = timedelta(hours=6)
MINUTE = timedelta(minutes=1)
RUN_BUDGET_SECONDS = 45.0  # beat fires every minute: leave the next run its slot


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
    """A per-minute count table kept by the scheme above — logs in apps.logs.counts, spans and
    points in apps.dashboards.counts: its watermark row (table names are constants, never input), its notes
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


# A row older than this (relative to its arrival) may lie before the range the next run recounts:
# the late window minus a margin for a count task running a few minutes behind.
STALE_MARGIN = timedelta(minutes=5)


def late_threshold(now: datetime) -> datetime:
    """Rows older than this, arriving now, are noted by note_late_rows."""
    return now - late_window() + STALE_MARGIN


def note_late_rows(
    cursor: Any, project_id: int, timestamps: list[datetime], now: datetime, table: str
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


def note_late_range(cursor: Any, project_id: int, first: datetime, last: datetime, table: str) -> None:
    """Note the minutes from `first` to `last`, the oldest and newest late row of a batch."""
    if table not in STALE_TABLES:
        raise ValueError(table)
    cursor.execute(
        f"INSERT INTO {table} (project_id, minute_from, minute_to) VALUES (%s, %s, %s)",  # noqa: S608
        [project_id, floor_minute(first), floor_minute(last) + MINUTE],
    )


def claim_stale(cursor: CursorWrapper, table: str) -> list[tuple[int, datetime, datetime]]:
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


def recount_stale(table: CountTable) -> int:
    """Recount the noted minutes, per project. Returns the number of notes handled."""
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
