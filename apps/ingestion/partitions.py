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

# Each day of logs is split again by level class (OTLP severity numbers: 1-8 trace/debug, 9-12
# info, 13-24 warn/error/fatal, 0 unspecified), so retention drops a day's debug rows after 3 days
# and its info rows after 14 while keeping warn+ for 30 — a DROP per class, never a DELETE
# (DESIGN.md §4). Ranges rather than lists: the planner prunes them for `level >= 17` too, so a
# search by level reads one leaf. Leaves are named <day partition>_<class>.
DEBUG_LEVELS = tuple(range(1, 9))
WARN_LEVELS = tuple(range(13, 25))
LOG_LEVEL_LEAVES = {
    "unspecified": "FOR VALUES FROM (MINVALUE) TO (1)",
    "debug": "FOR VALUES FROM (1) TO (9)",
    "info": "FOR VALUES FROM (9) TO (13)",
    "warn": "FOR VALUES FROM (13) TO (MAXVALUE)",
}
SUBPARTITIONS = {"logs_event": ("RANGE (level)", LOG_LEVEL_LEAVES)}

_known: set[str] = set()  # partition names this process has seen exist
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


def create_partitions(
    table: str, ranges: Iterable[tuple[str, datetime, datetime]], options: str = ""
) -> None:
    """Create the missing range partitions `(name, start, end)` of `table`.

    The one place that runs partition DDL (raw telemetry, log counts and metric rollups all call
    it), so one advisory lock serialises it with itself and with retention's DROPs. Known names are
    remembered per process, only after commit, so the hot path usually costs a set lookup.
    """
    missing = sorted({item for item in ranges if item[0] not in _known})
    if not missing:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK_KEY])
        for name, start, end in missing:
            # Look first: even IF NOT EXISTS can lock the parent that readers are using.
            cursor.execute("SELECT to_regclass(%s)", [name])
            if cursor.fetchone()[0] is None:
                partition_by, leaves = SUBPARTITIONS.get(table, ("", {}))
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                    f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                    + (f" PARTITION BY {partition_by}" if partition_by else options)
                )
                for leaf, bound in leaves.items():
                    cursor.execute(f"CREATE TABLE IF NOT EXISTS {name}_{leaf} PARTITION OF {name} {bound}")
    # Remember only after commit: a rolled-back creation must be retried next time.
    with _known_lock:
        _known.update(name for name, _, _ in missing)


def ensure_partitions(table: str, days: Iterable[date]) -> None:
    """Make sure `table` has a daily partition for each day; cheap when they are known to exist."""
    if table not in PARTITIONED_TABLES:
        raise ValueError(f"{table} is not a partitioned telemetry table")
    create_partitions(table, [(partition_name(table, day), *day_bounds(day)) for day in days])


def forget_partitions() -> None:
    """Drop the process-local memory of partitions (after retention dropped some, or in tests)."""
    with _known_lock:
        _known.clear()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def create_ahead(days_ahead: int = 3, days_behind: int = 1) -> int:
    """Create partitions from `days_behind` ago to `days_ahead` from today; returns the count checked."""
    today = datetime.now(UTC).date()
    days = [today + timedelta(days=offset) for offset in range(-days_behind, days_ahead + 1)]
    for table in PARTITIONED_TABLES:
        ensure_partitions(table, days)
    return len(days) * len(PARTITIONED_TABLES)
