"""Reads of metrics for the API: the metric list and chart queries. Every statement is scoped by
project_id, the first column of every metrics index (and of the rollup primary keys).

Raw SQL on purpose: series and points are not Django models (see migration 0001), and a chart is
one round trip that merges rollup rows and the not-yet-rolled raw tail in the database.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypedDict

from django.db import connection, transaction

from apps.api.errors import InvalidInput
from apps.billing import retention
from apps.metrics.query import PERCENTILES, MetricQuery, bucket_quantile
from apps.metrics.rollups import EPOCH, HOUR, MINUTE, PARTIALS, floor_to, partials_params, rolled_until

MAX_SERIES = 10_000
# Relations other apps' queries may read points and series from (apps.dashboards: counts per
# minute, "has it data"); simple projections that PostgreSQL pulls up, so partitions are pruned.
POINT_ROWS = "(SELECT project_id, ts FROM metrics_point)"
SERIES_ROWS = "(SELECT project_id, name FROM metrics_series)"
# The columns each agg reads: narrow rows keep the chart's sort in memory and the scan index-only.
AGG_COLUMNS = {
    "avg": "sum, count",
    "min": "min",
    "max": "max",
    "count": "count",
    "sum": "sum, count, increase",
    "rate": "count, increase",
    "last": "last",
    **{p: "min, max, bucket_counts" for p in ("p50", "p90", "p95", "p99")},
}
HISTOGRAM = "histogram"
# The kinds of metric `agg` is defined for (see query.py); anything else is a 400.
ALLOWED = {
    "gauge": {"avg", "sum", "min", "max", "count", "last"},
    "counter": {"avg", "sum", "min", "max", "count", "rate", "last"},
    HISTOGRAM: {"avg", "sum", "min", "max", "count", "rate", *PERCENTILES},
}


class ChartSeries(TypedDict):
    labels: dict[str, Any]
    points: list[list[float | int | None]]


class MetricInfo(TypedDict):
    name: str
    type: str
    unit: str
    series: int
    label_keys: list[str]


@dataclass(frozen=True)
class Series:
    id: int
    kind: str
    labels: dict[str, Any]


def metric_list_for(project_id: int) -> list[MetricInfo]:
    """Names, types, units, label keys of a project's metrics (from the series table only)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT name, min(type), min(unit), count(*),
                   array(SELECT DISTINCT k FROM metrics_series s2, jsonb_object_keys(s2.labels) k
                         WHERE s2.project_id = s.project_id AND s2.name = s.name ORDER BY k)
            FROM metrics_series s WHERE project_id = %s GROUP BY project_id, name ORDER BY name
            """,
            [project_id],
        )
        return [
            {"name": name, "type": kind, "unit": unit, "series": count, "label_keys": list(keys)}
            for name, kind, unit, count, keys in cursor.fetchall()
        ]


def series_for(project_id: int, query: MetricQuery) -> list[Series]:
    """The series of the metric that match the label filters, of the metric's dominant kind."""
    sql = (
        "SELECT id, type, temporality, is_monotonic, labels FROM metrics_series"
        " WHERE project_id = %s AND name = %s"
    )
    params: list[Any] = [project_id, query.name]
    for key, values in query.label_filters.items():
        sql += " AND labels ->> %s = ANY(%s)"
        params += [key, values]
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY id LIMIT %s", [*params, MAX_SERIES + 1])
        rows = cursor.fetchall()
    if len(rows) > MAX_SERIES:
        raise InvalidInput({"name": f"more than {MAX_SERIES} series match: add label filters"})
    series = [Series(row[0], _kind(row[1], row[2], row[3]), _labels(row[4])) for row in rows]
    if not series:
        return []
    dominant = Counter(s.kind for s in series).most_common(1)[0][0]
    return [s for s in series if s.kind == dominant]


RETENTION_OF = {"raw": "point", "1m": "rollup_1m", "1h": "rollup_1h"}


def within_retention(project_id: int, query: MetricQuery, now: datetime) -> MetricQuery:
    """A chart never reaches past the retention of what it reads (raw points, 1m or 1h rollups),
    even before the retention task has dropped those partitions. Keeps start on the step grid."""
    cutoff = retention.cutoff(project_id, now, RETENTION_OF[query.resolution])
    step = query.step.total_seconds()
    aligned = datetime.fromtimestamp(math.ceil(cutoff.timestamp() / step) * step, UTC)
    return replace(query, start=max(query.start, aligned))


def metric_query_run(project_id: int, query: MetricQuery) -> tuple[str | None, list[ChartSeries]]:
    """Run a chart query: (metric kind, one series of [epoch seconds, value] per group)."""
    query = within_retention(project_id, query, datetime.now(UTC))
    series = series_for(project_id, query)
    if not series:
        return None, []
    kind = series[0].kind
    if query.agg not in ALLOWED[kind]:
        raise InvalidInput({"agg": f"agg={query.agg} is not defined for a {kind} metric"})
    groups = _groups(series, query.group_by)
    bounds = _group_bounds(project_id, query, groups) if query.agg in PERCENTILES else {}
    sql, params = _chart_sql(project_id, query, kind, groups, bounds)
    with transaction.atomic(), connection.cursor() as cursor:
        # A 24 h chart of 20 histograms sorts ~9 MB of rows: in memory, not in temp files.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return kind, _chart(rows, query, groups, bounds)


def _group_bounds(project_id: int, query: MetricQuery, groups: dict[int, Any]) -> dict[int, list[float]]:
    """group index -> bucket bounds: those of the latest bucket of its series (fixed per series)."""
    table = "metrics_rollup_1h" if query.resolution == "1h" else "metrics_rollup_1m"
    params: dict[str, Any] = {
        "project_id": project_id,
        "series_ids": list(groups),
        "start": query.start,
        "end": query.end,
    }
    with connection.cursor() as cursor:
        cursor.execute(BOUNDS_SQL.format(table=table), params)
        by_series = dict(cursor.fetchall())
    result: dict[int, list[float]] = {}
    for series_id, (group, _) in groups.items():
        if by_series.get(series_id) and group not in result:
            result[group] = by_series[series_id]
    return result


def _kind(series_type: str, temporality: int, is_monotonic: bool) -> str:
    if series_type in ("histogram", "exponential_histogram"):
        return HISTOGRAM
    if series_type == "sum" and (is_monotonic or temporality == 1):
        return "counter"
    return "gauge"  # gauges, and up-down sums reported as running totals


def _labels(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


def _groups(series: list[Series], group_by: tuple[str, ...]) -> dict[int, tuple[int, dict[str, Any]]]:
    """series id -> (group index, group labels)."""
    index: dict[str, int] = {}
    result = {}
    for one in series:
        labels = {name: one.labels.get(name) for name in group_by}
        key = json.dumps(labels, sort_keys=True)
        result[one.id] = (index.setdefault(key, len(index)), labels)
    return result


def _chart_sql(
    project_id: int, query: MetricQuery, kind: str, groups: dict[int, Any], bounds: dict[int, list[float]]
) -> tuple[str, dict[str, Any]]:
    ids = list(groups)
    params: dict[str, Any] = {
        "project_id": project_id,
        "series_ids": ids,
        "group_ids": [groups[i][0] for i in ids],
        "step": query.step,
        "step_seconds": query.step.total_seconds(),
        "origin": EPOCH,
    }
    scope = "AND p.project_id = %(project_id)s AND p.series_id = ANY(%(series_ids)s::bigint[])"
    raw = PARTIALS.format(scope=scope)
    if query.resolution == "raw":
        source = raw
        params.update(partials_params(query.start, query.end, query.step))
    else:
        rolled = rolled_until() or query.start
        rollup_end = min(max(rolled, query.start), query.end)
        # Once the rollups reach the end (a chart of the past), there is no raw tail to read.
        columns = "series_id, bucket, " + AGG_COLUMNS[query.agg]
        source = _rollup_source(query.resolution, raw if rollup_end < query.end else "", columns)
        params.update(partials_params(rollup_end, query.end, MINUTE))
        hours_end = max(floor_to(rollup_end, HOUR), query.start)
        params.update(rollup_start=query.start, rollup_end=rollup_end, hours_end=hours_end)
    single = len({group for group, _ in groups.values()}) == 1
    return _aggregate_sql(source, query.agg, kind, bounds, single), params


def _rollup_source(resolution: str, raw: str, columns: str) -> str:
    """Each moment from exactly one source: 1h rows for complete hours (1h resolution), 1m rows up
    to the watermark, raw points after it."""
    where = "project_id = %(project_id)s AND series_id = ANY(%(series_ids)s::bigint[])"
    minutes_start = "%(rollup_start)s"
    parts = []
    if resolution == "1h":
        minutes_start = "%(hours_end)s"
        hours = "bucket >= %(rollup_start)s AND bucket < %(hours_end)s"
        parts.append(f"SELECT {columns} FROM metrics_rollup_1h WHERE {where} AND {hours}")  # noqa: S608
    minutes = f"bucket >= {minutes_start} AND bucket < %(rollup_end)s"
    parts.append(f"SELECT {columns} FROM metrics_rollup_1m WHERE {where} AND {minutes}")  # noqa: S608
    if raw:
        parts.append(f"SELECT {columns} FROM ({raw}) tail")  # noqa: S608 (constants only)
    return " UNION ALL ".join(parts)


# The newest bounds of each series in the chart's range: from its rollup rows (index-only), else
# from raw points (a series seen only in the not-yet-rolled tail).
BOUNDS_SQL = """
SELECT s.id, coalesce(
    (SELECT r.bounds FROM {table} r
     WHERE r.project_id = %(project_id)s AND r.series_id = s.id AND r.bounds IS NOT NULL
       AND r.bucket >= %(start)s AND r.bucket < %(end)s ORDER BY r.bucket DESC LIMIT 1),
    (SELECT p.bounds FROM metrics_point p
     WHERE p.project_id = %(project_id)s AND p.series_id = s.id AND p.bounds IS NOT NULL
       AND p.ts >= %(start)s AND p.ts < %(end)s ORDER BY p.ts DESC LIMIT 1))
FROM unnest(%(series_ids)s::bigint[]) AS s(id)
"""

VALUE_SQL = {
    "avg": "sum(s.sum) / nullif(sum(s.count), 0)",
    "min": "min(s.min)",
    "max": "max(s.max)",
    "count": "sum(s.count)::float8",  # sum(bigint) is numeric: a Decimal per row in Python
    # The newest sample's value (alert policies only; the chart API does not offer it).
    "last": "(max(ARRAY[date_part('epoch', s.bucket), s.last]) FILTER (WHERE s.last IS NOT NULL))[2]",
    ("sum", "counter"): "sum(s.increase)",
    ("sum", HISTOGRAM): "sum(s.sum)",
    ("rate", "counter"): "sum(s.increase) / %(step_seconds)s",
    ("rate", HISTOGRAM): "sum(s.count) / %(step_seconds)s",
}


def _aggregate_sql(
    source: str, agg: str, kind: str, bounds: dict[int, list[float]], single_group: bool = False
) -> str:
    # Only constants and the whitelisted column expressions of VALUE_SQL are interpolated.
    step = "date_bin(%(step)s, s.bucket, %(origin)s)"
    if agg in PERCENTILES:
        sums = _bucket_sums(bounds)
        columns = ", ".join(
            ["min(s.min) AS low", "max(s.max) AS high", *(f"{e} AS b{i}" for i, e in enumerate(sums))]
        )
        names = ", ".join(["low", "high", *(f"b{i}" for i in range(len(sums)))])
    else:
        # (sum of gauges has its own body below)
        columns, names = f"{VALUE_SQL.get(agg) or VALUE_SQL.get((agg, kind), 'NULL')} AS value", "value"
    body = f"""
        SELECT g.group_id, {step} AS t, {columns}
        FROM source s JOIN groups g USING (series_id) GROUP BY 1, 2
    """  # noqa: S608 (interpolates constants only)
    if (agg, kind) == ("sum", "gauge"):
        # A sum of gauges adds each series' level (its average in the step), not every sample.
        body = f"""
            SELECT group_id, t, sum(value) AS value FROM (
                SELECT g.group_id, s.series_id, {step} AS t, sum(s.sum) / nullif(sum(s.count), 0) AS value
                FROM source s JOIN groups g USING (series_id) GROUP BY 1, 2, 3
            ) per_series GROUP BY 1, 2
        """  # noqa: S608 (interpolates constants only)
    if single_group:
        # One chart line (no group_by): every row is group 0, so the join to `groups` (a hash
        # join over every rollup row of a 24 h chart) is pure cost.
        body = body.replace("FROM source s JOIN groups g USING (series_id)", "FROM source s")
        body = body.replace("g.group_id", "0 AS group_id")
    # Epoch seconds, not timestamptz: Django's timestamptz loader costs ~6 us a row in Python.
    # Converted once per output row, after grouping on the timestamp.
    return f"""
        WITH groups AS (
            SELECT * FROM unnest(%(series_ids)s::bigint[], %(group_ids)s::int[]) AS g(series_id, group_id)
        ), source AS ({source})
        SELECT group_id, date_part('epoch', t)::bigint, {names} FROM ({body}) chart ORDER BY group_id, t
    """  # noqa: S608 (interpolates constants only)


def _bucket_sums(bounds: dict[int, list[float]]) -> list[str]:
    # Bucket merging as plain sums of array elements: C-level aggregates, several times faster
    # than an element-wise array aggregate in PL/pgSQL on a 24 h chart of 20 histograms.
    width = max((len(b) for b in bounds.values()), default=0) + 1
    return [f"sum(s.bucket_counts[{index}])::bigint" for index in range(1, width + 1)]


def _chart(
    rows: list[tuple[Any, ...]], query: MetricQuery, groups: dict[int, Any], bounds: dict[int, list[float]]
) -> list[ChartSeries]:
    labels_of = {index: labels for index, labels in groups.values()}
    charts: dict[int, ChartSeries] = {}
    quantile = PERCENTILES.get(query.agg)
    for group_id, seconds, *values in rows:
        if quantile is not None:
            low, high, *sums = values
            group_bounds = bounds.get(group_id, [])
            counts = [count or 0 for count in sums[: len(group_bounds) + 1]]  # bigint: ints already
            value = bucket_quantile(quantile, group_bounds, counts, low, high)
        else:
            value = values[0]
        chart = charts.setdefault(group_id, {"labels": labels_of[group_id], "points": []})
        chart["points"].append([seconds, _finite(value)])
    return [charts[index] for index in sorted(charts)]


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# --- One value per group over a window, for alert policies (apps.alerts reads metrics here) ----


@dataclass(frozen=True)
class WindowValue:
    labels: dict[str, Any]
    value: float | None


def metric_window_values(
    project_id: int,
    name: str,
    label_filters: dict[str, list[str]],
    agg: str,
    start: datetime,
    end: datetime,
    group_by: tuple[str, ...] = (),
) -> list[WindowValue]:
    """`agg` of the metric over [start, end) per group: the chart query with a single step.

    Reads 1m rollups up to the rollup watermark and raw points after it, like a chart. `start` is
    taken down to its minute (rollup rows are whole minutes), so the window may be up to a minute
    longer than asked; the bucket origin is that minute, which puts the window in one step.
    Returns [] for a metric without series; raises InvalidInput for an agg its kind lacks.
    """
    start = floor_to(start, MINUTE)
    span = end - start
    query = MetricQuery(
        name=name,
        agg=agg,
        start=start,
        end=end,
        step=span + MINUTE,  # one step covers the window, whatever the partial-minute tail
        resolution="1m",
        group_by=tuple(group_by),
        label_filters=label_filters,
    )
    query = within_retention(project_id, query, datetime.now(UTC))
    series = series_for(project_id, query)
    if not series:
        return []
    kind = series[0].kind
    if agg not in ALLOWED[kind]:
        raise InvalidInput({"agg": f"agg={agg} is not defined for a {kind} metric"})
    groups = _groups(series, query.group_by)
    bounds = _group_bounds(project_id, query, groups) if agg in PERCENTILES else {}
    sql, params = _chart_sql(project_id, query, kind, groups, bounds)
    params.update(origin=query.start, step_seconds=max(span.total_seconds(), 1.0))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    charts = _chart(rows, query, groups, bounds)
    found = {json.dumps(c["labels"], sort_keys=True): c["points"][-1][1] for c in charts if c["points"]}
    labels_of = {index: labels for index, labels in groups.values()}
    return [
        WindowValue(labels, found.get(json.dumps(labels, sort_keys=True)))
        for _, labels in sorted(labels_of.items())
    ]


def series_names_present(project_id: int, names: list[str]) -> set[str]:
    """Which of `names` the project has a series of."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT name FROM metrics_series WHERE project_id = %s AND name = ANY(%s)",
            [project_id, names],
        )
        return {row[0] for row in cursor.fetchall()}


def count_points_by_project(start: datetime, end: datetime) -> dict[int, int]:
    """Stored data points per project with `ts` in [start, end): billing's nightly recount of
    what it metered (apps.billing.recount)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT project_id, count(*) FROM metrics_point WHERE ts >= %s AND ts < %s GROUP BY project_id",
            [start, end],
        )
        return {int(project_id): int(n) for project_id, n in cursor.fetchall()}
