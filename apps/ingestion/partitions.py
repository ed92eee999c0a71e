"""Daily range partitions of the telemetry tables.

Partitions are created ahead of time by the `create_partitions_ahead` beat task and on demand by
ingestion when a batch carries a day that has none, so an insert never fails for want of a
partition. `CREATE TABLE IF NOT EXISTS ... PARTITION OF` is not race-safe on its own (two sessions
can both pass the existence check and one dies on a duplicate catalog row), hence the advisory lock.
Creation runs in its own short transaction: it takes a lock on the parent table that must not be
held for the duration of a data write.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction

# table -> partition key column; the tables are created by the logs/metrics/traces migrations.
PARTITIONED_TABLES = {"logs_event": "ts", "metrics_point": "ts", "traces_span": "start_ts"}
PARTITION_LOCK_KEY = 0x5647_5041  # "VGPA": one advisory lock id for all partition DDL

_known: set[tuple[str, date]] = set()
_known_lock = threading.Lock()


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def days_between(first: datetime, last: datetime) -> list[date]:
    day, end = first.astimezone(UTC).date(), last.astimezone(UTC).date()
    days = []
    while day <= end:
        days.append(day)
        day += timedelta(days=1)
    return days


def ensure_partitions(table: str, days: Iterable[date]) -> None:
    """Make sure `table` has a partition for each day; cheap when they are known to exist."""
    missing = sorted({day for day in days if (table, day) not in _known})
    if not missing:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK_KEY])
        for day in missing:
            cursor.execute(_create_sql(table, day))
    # Remember only after commit: a rolled-back creation must be retried next time.
    with _known_lock:
        _known.update((table, day) for day in missing)


def forget_partitions() -> None:
    """Drop the process-local memory of partitions (after retention dropped some, or in tests)."""
    with _known_lock:
        _known.clear()


def _create_sql(table: str, day: date) -> str:
    if table not in PARTITIONED_TABLES:
        raise ValueError(f"{table} is not a partitioned telemetry table")
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(table, day)} PARTITION OF {table} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def create_ahead(days_ahead: int = 3, days_behind: int = 1) -> int:
    """Create partitions from `days_behind` ago to `days_ahead` from today; returns the count checked."""
    today = datetime.now(UTC).date()
    days = [today + timedelta(days=offset) for offset in range(-days_behind, days_ahead + 1)]
    for table in PARTITIONED_TABLES:
        ensure_partitions(table, days)
    return len(days) * len(PARTITIONED_TABLES)
