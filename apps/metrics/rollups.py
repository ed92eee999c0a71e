"""Rollups: raw points -> 1-minute rows -> 1-hour rows (schema and column meaning: migration 0002).

Design note.
* Recompute, never add. Every run recomputes whole buckets from their source (1m from raw points,
  1h from 1m rows) and upserts them with INSERT ... ON CONFLICT DO UPDATE. A re-run, a crashed
  worker or a late point therefore never double-counts: the bucket is simply computed again.
* Watermark. `metrics_rollup_watermark.rolled_until` is where the last run stopped. A run locks
  that row (FOR UPDATE SKIP LOCKED), rolls [min(rolled_until, end - late window), end) where `end`
  is the current minute, and moves the watermark in the same transaction. A second worker that
  starts meanwhile finds the row locked and skips; the next beat tick picks up where this one
  ended. Points arriving up to ROLLUP_LATE_WINDOW_SECONDS late are re-rolled because every run
  recomputes that window; later ones stay queryable from raw points only.
* 1h rows are computed from 1m rows once their hour is complete, and again while the late window
  reaches into it. Queries at 1h resolution read the current hour from 1m rows and the minutes
  after the watermark from raw points (selectors.py), so charts are fresh without rewriting the
  hour's row every minute.
* Counters. Delta sums add up. For cumulative sums the increase of each point is measured from
  the series' previous point (looked up before the range when needed); a drop in value or a new
  start time is a reset, after which the new value is the increase. A series' first point counts
  in full only when its start time is recent (a counter that just started), else it is the
  baseline. Cumulative histograms get the same treatment for count, sum and bucket counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from apps.metrics.storage import ensure_rollup_partitions, periods_between

WATERMARK = "metrics"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
# After an outage a run rolls at most this much; the following runs catch up, an hour a minute.
MAX_CATCH_UP = timedelta(hours=1)
# How far back the previous point of a cumulative series is looked for.
COUNTER_LOOKBACK = timedelta(hours=1)

HISTOGRAM_TYPES = "('histogram', 'exponential_histogram')"
# Partial aggregates per (series, bucket of %(width)s) of the points in [%(start)s, %(end)s).
# `{scope}` narrows the points to one project's series for queries; the rollup reads everything.
# Staleness markers (no value, no count) and NaN carry nothing and are left out.
PARTIALS = f"""
WITH raw AS (
    SELECT p.project_id, p.series_id, p.ts, p.start_ts, p.value, p.count, p.sum, p.min, p.max,
           p.bounds, p.bucket_counts, s.type, s.temporality, s.is_monotonic
    FROM metrics_point p JOIN metrics_series s ON s.id = p.series_id
    WHERE p.ts >= %(start)s AND p.ts < %(end)s {{scope}}
      AND (p.value IS NOT NULL OR p.count IS NOT NULL) AND p.value IS DISTINCT FROM 'NaN'
),
baseline AS (
    SELECT c.project_id, c.series_id, prev.*, NULL::float8 AS min, NULL::float8 AS max, c.type, c.temporality,
           c.is_monotonic
    FROM (SELECT DISTINCT project_id, series_id, type, temporality, is_monotonic
          FROM raw WHERE temporality = 2) c
    CROSS JOIN LATERAL (
        SELECT p.ts, p.start_ts, p.value, p.count, p.sum, p.bounds, p.bucket_counts
        FROM metrics_point p
        WHERE p.project_id = c.project_id AND p.series_id = c.series_id
          AND p.ts < %(start)s AND p.ts >= %(baseline_start)s
          AND (p.value IS NOT NULL OR p.count IS NOT NULL) AND p.value IS DISTINCT FROM 'NaN'
        ORDER BY p.ts DESC LIMIT 1
    ) prev
),
ordered AS (
    SELECT *, lag(ts) OVER w AS prev_ts, lag(value) OVER w AS prev_value, lag(count) OVER w AS prev_count,
           lag(sum) OVER w AS prev_sum, lag(bounds) OVER w AS prev_bounds,
           lag(bucket_counts) OVER w AS prev_buckets,
           start_ts >= ts - %(lookback)s AS is_fresh
    FROM (
        SELECT project_id, series_id, ts, start_ts, value, count, sum, min, max, bounds, bucket_counts,
               type, temporality, is_monotonic
        FROM raw WHERE temporality = 2
        UNION ALL
        SELECT project_id, series_id, ts, start_ts, value, count, sum, min, max, bounds, bucket_counts,
               type, temporality, is_monotonic
        FROM baseline
    ) cumulative
    WINDOW w AS (PARTITION BY series_id ORDER BY ts)
),
cumulative_deltas AS (
    SELECT *, prev_ts IS NOT NULL AND (
               start_ts > prev_ts OR (is_monotonic AND value < prev_value) OR count < prev_count
               OR bounds IS DISTINCT FROM prev_bounds) AS is_reset
    FROM ordered WHERE ts >= %(start)s
),
deltas AS (
    SELECT project_id, series_id, ts, type, value, min, max, bounds,
           CASE WHEN type = 'sum' THEN value END AS increase,
           count AS h_count, sum AS h_sum, bucket_counts AS h_buckets
    FROM raw WHERE temporality <> 2
    UNION ALL
    SELECT project_id, series_id, ts, type, value, min, max, bounds,
           CASE WHEN type <> 'sum' THEN NULL
                WHEN prev_ts IS NULL THEN CASE WHEN is_fresh THEN value ELSE 0 END
                WHEN is_reset THEN value ELSE value - prev_value END,
           CASE WHEN prev_ts IS NULL THEN CASE WHEN is_fresh THEN count ELSE 0 END
                WHEN is_reset THEN count ELSE count - prev_count END,
           CASE WHEN prev_ts IS NULL THEN CASE WHEN is_fresh THEN sum ELSE 0 END
                WHEN is_reset THEN sum ELSE sum - prev_sum END,
           CASE WHEN prev_ts IS NULL THEN CASE WHEN is_fresh THEN bucket_counts END
                WHEN is_reset THEN bucket_counts ELSE vigil_bucket_sub(bucket_counts, prev_buckets) END
    FROM cumulative_deltas
)
SELECT project_id, series_id, date_bin(%(width)s, ts, %(origin)s) AS bucket,
       coalesce(sum(CASE WHEN type IN {HISTOGRAM_TYPES} THEN h_count ELSE 1 END), 0) AS count,
       sum(CASE WHEN type IN {HISTOGRAM_TYPES} THEN h_sum ELSE value END) AS sum,
       min(CASE WHEN type IN {HISTOGRAM_TYPES} THEN min ELSE value END) AS min,
       max(CASE WHEN type IN {HISTOGRAM_TYPES} THEN max ELSE value END) AS max,
       -- the value of the latest sample; cheaper than an ordered array_agg (no sort per group),
       -- and date_part is float8 where extract() would compute in numeric
       (max(ARRAY[date_part('epoch', ts), value]) FILTER (WHERE value IS NOT NULL))[2] AS last,
       sum(increase) AS increase,
       max(bounds) AS bounds,
       vigil_bucket_sum(h_buckets) AS bucket_counts
FROM deltas GROUP BY 1, 2, 3
"""  # noqa: S608 (interpolates constants only)

COLUMNS = "project_id, series_id, bucket, count, sum, min, max, last, increase, bounds, bucket_counts"
VALUES = "count, sum, min, max, last, increase, bounds, bucket_counts"
# Re-rolling the late window mostly recomputes identical rows: skipping those writes nothing.
UPSERT = f"""
ON CONFLICT (project_id, series_id, bucket) DO UPDATE SET ({VALUES}) = (
    EXCLUDED.count, EXCLUDED.sum, EXCLUDED.min, EXCLUDED.max, EXCLUDED.last, EXCLUDED.increase,
    EXCLUDED.bounds, EXCLUDED.bucket_counts)
WHERE ({{table}}.count, {{table}}.sum, {{table}}.min, {{table}}.max, {{table}}.last, {{table}}.increase,
       {{table}}.bounds, {{table}}.bucket_counts)
    IS DISTINCT FROM (EXCLUDED.count, EXCLUDED.sum, EXCLUDED.min, EXCLUDED.max, EXCLUDED.last,
                      EXCLUDED.increase, EXCLUDED.bounds, EXCLUDED.bucket_counts)
"""
ROLL_1M = f"""
INSERT INTO metrics_rollup_1m ({COLUMNS}) {PARTIALS.format(scope="")}
{UPSERT.format(table="metrics_rollup_1m")}
"""
# Mergeable columns merge: sums add, min/max of min/max, the last value of the last minute.
ROLL_1H = f"""
INSERT INTO metrics_rollup_1h ({COLUMNS})
SELECT project_id, series_id, date_bin('1 hour', bucket, %(origin)s),
       sum(count), sum(sum), min(min), max(max),
       (max(ARRAY[date_part('epoch', bucket), last]) FILTER (WHERE last IS NOT NULL))[2],
       sum(increase), max(bounds), vigil_bucket_sum(bucket_counts)
FROM metrics_rollup_1m WHERE bucket >= %(start)s AND bucket < %(end)s
GROUP BY 1, 2, 3
{UPSERT.format(table="metrics_rollup_1h")}
"""  # noqa: S608 (interpolates constants only)


@dataclass(frozen=True)
class RollupResult:
    skipped: bool
    start: datetime | None = None
    end: datetime | None = None
    minute_rows: int = 0
    hour_rows: int = 0


def floor_to(moment: datetime, width: timedelta) -> datetime:
    return EPOCH + (moment - EPOCH) // width * width


def late_window() -> timedelta:
    return timedelta(seconds=settings.ROLLUP_LATE_WINDOW_SECONDS)


def rollup_run(now: datetime | None = None) -> RollupResult:
    """The beat task's body: claim the range after the watermark, roll it up, move the watermark."""
    end = floor_to(now or timezone.now(), MINUTE)  # only whole minutes: the current one still fills
    first_start = end - late_window()
    _ensure_partitions(min(_peek_watermark() or first_start, first_start), end)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO metrics_rollup_watermark (name, rolled_until) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING",
            [WATERMARK, first_start],
        )
        # The row lock is the claim: a concurrent run skips instead of rolling the same range.
        cursor.execute(
            "SELECT rolled_until FROM metrics_rollup_watermark WHERE name = %s FOR UPDATE SKIP LOCKED",
            [WATERMARK],
        )
        row = cursor.fetchone()
        if row is None:
            return RollupResult(skipped=True)
        start = min(row[0], first_start)
        end = min(end, start + MAX_CATCH_UP)
        minute_rows, hour_rows = _roll(cursor, start, end)
        cursor.execute(
            "UPDATE metrics_rollup_watermark SET rolled_until = greatest(rolled_until, %s),"
            " updated_at = now() WHERE name = %s",
            [end, WATERMARK],
        )
    return RollupResult(False, start, end, minute_rows, hour_rows)


def rollup_range(start: datetime, end: datetime) -> RollupResult:
    """Recompute the rollups of [start, end) without touching the watermark (backfills, benchmarks)."""
    start, end = floor_to(start, MINUTE), floor_to(end, MINUTE)
    _ensure_partitions(start, end)
    with transaction.atomic(), connection.cursor() as cursor:
        minute_rows, hour_rows = _roll(cursor, start, end)
    return RollupResult(False, start, end, minute_rows, hour_rows)


def rolled_until() -> datetime | None:
    return _peek_watermark()


def partials_params(start: datetime, end: datetime, width: timedelta) -> dict[str, Any]:
    """Parameters of PARTIALS. All literals: the planner prunes partitions only on constants."""
    return {
        "start": start,
        "end": end,
        "width": width,
        "origin": EPOCH,
        "lookback": COUNTER_LOOKBACK,
        "baseline_start": start - COUNTER_LOOKBACK,
    }


def _roll(cursor: CursorWrapper, start: datetime, end: datetime) -> tuple[int, int]:
    if start >= end:
        return 0, 0
    # A minute of 100,000 points sorts ~15 MB of rows: in memory, not in temp files (4 MB default).
    cursor.execute("SET LOCAL work_mem = '128MB'")
    cursor.execute(ROLL_1M, partials_params(start, end, MINUTE))
    minute_rows = cursor.rowcount
    # Complete hours only, recomputed from their 1m rows when the range touched them: once when
    # the hour ends, again while the late window still reaches back into it.
    hours_start, hours_end = floor_to(start, HOUR), floor_to(end, HOUR)
    if hours_start >= hours_end:
        return minute_rows, 0
    cursor.execute(ROLL_1H, {"start": hours_start, "end": hours_end, "origin": EPOCH})
    return minute_rows, cursor.rowcount


def _peek_watermark() -> datetime | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolled_until FROM metrics_rollup_watermark WHERE name = %s", [WATERMARK])
        row = cursor.fetchone()
    return row[0] if row else None


def _ensure_partitions(start: datetime, end: datetime) -> None:
    # Before the rollup transaction: partition DDL locks the parent table, which must not be held
    # while the rollup runs and charts read it.
    ensure_rollup_partitions("metrics_rollup_1m", periods_between("metrics_rollup_1m", start, end))
    ensure_rollup_partitions("metrics_rollup_1h", periods_between("metrics_rollup_1h", start, end))
