"""Maintaining logs_count_1m: per-minute counts by (project, level, service), and its two narrower
rollups (logs_count_level_1m, logs_count_service_1h) in the same transaction, by the watermark
scheme of apps.storage.counting (idempotent recounts of whole minutes, stragglers noted in
logs_count_stale by ingestion and recounted on the next run).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from apps.storage import counting
from apps.storage.counting import RUN_BUDGET_SECONDS, CountRun, CountTable, floor_minute, late_window
from apps.storage.partitions import create_partitions, day_bounds

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


def count_logs(now: datetime | None = None, budget: float = RUN_BUDGET_SECONDS) -> CountRun:
    return counting.advance(LOG_COUNTS, now, budget)


def note_late_rows(cursor: Any, project_id: int, timestamps: list[datetime], now: datetime) -> None:
    """Called by ingestion inside its write transaction: note the minutes of log rows too late
    for the regular recount (one row per batch; nothing when there are none)."""
    counting.note_late_rows(cursor, project_id, timestamps, now, LOG_COUNTS.stale)


def note_late_range(cursor: Any, project_id: int, first: datetime, last: datetime) -> None:
    """As note_late_rows, for a batch whose oldest and newest late rows are already known."""
    counting.note_late_range(cursor, project_id, first, last, LOG_COUNTS.stale)


def recount_stale() -> int:
    """Recount the minutes ingestion noted as stale; returns the notes handled."""
    return counting.recount_stale(LOG_COUNTS)


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
