"""The storage of metric series, points and rollups, owned here: partitions, the writes ingestion
makes through `write_points`, and the retention drop. Nothing outside apps.metrics names these
tables.

Rollups: 1m partitioned by day (kept 30 days), 1h by month (kept 400 days), created on demand by
the rollup task before it writes a bucket, under the same advisory lock as all partition DDL
(apps.storage.partitions), so two workers creating the same partition cannot collide.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from apps.storage import partitions
from apps.storage.copy import copy_rows

POINT_TABLE = "metrics_point"
POINT_COPY = (
    "COPY metrics_point (project_id, series_id, ts, start_ts, value, count, sum, min, max, bounds,"
    " bucket_counts, exp_scale, exp_zero_count, exp_positive_offset, exp_positive_counts,"
    " exp_negative_offset, exp_negative_counts, exemplars) FROM STDIN (FORMAT BINARY)"
)
POINT_TYPES = (
    "int8 int8 timestamptz timestamptz float8 int8 float8 float8 float8"
    " float8[] int8[] int4 int8 int4 int8[] int4 int8[] jsonb"
).split()
TS_COLUMN = 2  # ts: the partition key; column 1 carries the series' labels hash until written
SERIES_UPSERT = """
INSERT INTO metrics_series
    (project_id, name, type, unit, temporality, is_monotonic, labels, labels_hash, description)
SELECT %s, * FROM unnest(
    %s::text[], %s::text[], %s::text[], %s::int2[], %s::bool[], %s::jsonb[], %s::bytea[], %s::text[]
)
ON CONFLICT (project_id, labels_hash) DO NOTHING
"""
SERIES_SELECT = (
    "SELECT labels_hash, id FROM metrics_series WHERE project_id = %s AND labels_hash = ANY(%s::bytea[])"
)
ROLLUP_TABLES = {"metrics_rollup_1m": "day", "metrics_rollup_1h": "month"}

_SERIES_CACHE_LIMIT = 200_000
_series_ids: dict[tuple[int, bytes], int] = {}
_series_lock = threading.Lock()


class SeriesSpec(Protocol):
    """What ingestion knows of a series (apps.ingestion.batch.SeriesSpec)."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def temporality(self) -> int: ...
    @property
    def is_monotonic(self) -> bool: ...
    @property
    def labels_json(self) -> bytes: ...
    @property
    def description(self) -> str: ...


# --- Points and series ---------------------------------------------------------------------


def point_partition_name(day: date) -> str:
    return partitions.partition_name(POINT_TABLE, day)


def ensure_point_partitions(days: Iterable[date]) -> None:
    partitions.ensure_day_partitions(POINT_TABLE, days)


def write_points(
    cursor: Any, project_id: int, rows: list[tuple[Any, ...]], series: Mapping[bytes, SeriesSpec]
) -> dict[bytes, int]:
    """Upsert the batch's series and COPY its points (rows carry the labels hash in place of the
    series id), in the caller's transaction. Returns the series created, for `remember_series`
    once the transaction has committed."""
    new_series: dict[bytes, int] = {}
    ids = _series_ids_for(cursor, project_id, series, new_series)
    copy_rows(cursor, POINT_COPY, POINT_TYPES, [(row[0], ids[row[1]], *row[2:]) for row in rows])
    return new_series


def remember_series(project_id: int, new_series: dict[bytes, int]) -> None:
    """Cache series ids only once committed: a rolled-back series row has no id to remember."""
    if new_series:
        with _series_lock:
            if len(_series_ids) > _SERIES_CACHE_LIMIT:
                _series_ids.clear()
            _series_ids.update(((project_id, h), i) for h, i in new_series.items())


def forget_series() -> None:
    """Drop this process's memory of series ids (tests, after their rows are gone)."""
    with _series_lock:
        _series_ids.clear()


def _series_ids_for(
    cursor: Any, project_id: int, series: Mapping[bytes, SeriesSpec], new_series: dict[bytes, int]
) -> dict[bytes, int]:
    ids = {h: _series_ids[(project_id, h)] for h in series if (project_id, h) in _series_ids}
    missing = sorted(h for h in series if h not in ids)  # sorted: concurrent upserts lock in one order
    if missing:
        specs = [series[h] for h in missing]
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
                [s.description for s in specs],
            ],
        )
        cursor.execute(SERIES_SELECT, [project_id, missing])
        for labels_hash, series_id in cursor.fetchall():
            new_series[bytes(labels_hash)] = series_id
        ids.update(new_series)
    return ids


# --- Rollups -------------------------------------------------------------------------------


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
    partitions.create_partitions(table, ranges, options=" WITH (fillfactor = 70)")


# --- Retention -----------------------------------------------------------------------------


def drop_expired(*, points: datetime, rollup_1m: datetime, rollup_1h: datetime) -> list[str]:
    """Drop the partitions of points and rollups past their cutoffs; returns the names dropped."""
    return (
        partitions.drop_expired(POINT_TABLE, points)
        + partitions.drop_expired("metrics_rollup_1m", rollup_1m)
        + partitions.drop_expired("metrics_rollup_1h", rollup_1h)
    )
