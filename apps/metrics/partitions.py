"""Range partitions of the rollup tables: 1m by day (kept 30 days), 1h by month (kept 400 days).

Same scheme as the raw telemetry partitions (apps.ingestion.partitions): created on demand by the
rollup task before it writes a bucket, under the same advisory lock as all partition DDL, so two
workers creating the same partition cannot collide on the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from apps.ingestion.partitions import create_partitions

ROLLUP_TABLES = {"metrics_rollup_1m": "day", "metrics_rollup_1h": "month"}


def period_start(table: str, moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    if ROLLUP_TABLES[table] == "day":
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_period(table: str, start: datetime) -> datetime:
    if ROLLUP_TABLES[table] == "day":
        return start + timedelta(days=1)
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def periods_between(table: str, first: datetime, last: datetime) -> list[datetime]:
    """Starts of the partitions that hold buckets from `first` to `last` (both included)."""
    periods, start = [], period_start(table, first)
    while start <= last:
        periods.append(start)
        start = next_period(table, start)
    return periods


def partition_name(table: str, start: datetime) -> str:
    suffix = f"{start:%Y%m%d}" if ROLLUP_TABLES[table] == "day" else f"{start:%Y%m}"
    return f"{table}_p{suffix}"


def ensure_rollup_partitions(table: str, starts: Iterable[datetime]) -> None:
    # Room on each page for the re-rolls' new row versions: HOT updates, no index churn.
    ranges = [(partition_name(table, start), start, next_period(table, start)) for start in starts]
    create_partitions(table, ranges, options=" WITH (fillfactor = 70)")
