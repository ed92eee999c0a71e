"""`make bench-query-metrics`: metric charts and rollups at scale, to bench/QUERY_METRICS_RESULTS.md.

What runs: a fresh `vigil_bench_metrics` database (production schema via migrations), 100 projects
(project 1 holds half the points on 100 series: 20 latency histograms, 40 delta counters,
40 gauges; each other project 20 series: 5 histograms, 5 cumulative counters, 10 gauges), 30 days
of points ending now, generated inside PostgreSQL (INSERT ... SELECT generate_series: faster
than shipping rows through COPY from Python on 2 cores, same table, partitions and indexes).
Then the rollups as the task computes them (rollup_range day by day), then p50/p95 over repeated
runs of the chart queries exactly as the API runs them (apps.metrics selectors), the time to
roll up one minute of 100,000 new points, table and index sizes, and EXPLAIN of the slowest.
Environment: BENCH_POINTS (default 50_000_000), BENCH_RUNS (30), BENCH_REUSE=1 (keep loaded data),
DATABASE_HOST_URL.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import servers  # noqa: E402

servers.ensure()
DATABASE = "vigil_bench_metrics"
os.environ["DATABASE_URL"] = servers.database_url(DATABASE)
os.environ["REDIS_URL"] = servers.redis_url(9)
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"

DAYS = 30
BOUNDS = [5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]  # ms, OTel defaults
WEIGHTS = [2, 5, 10, 20, 25, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02]  # mass per bucket
# (project filter, name, type, temporality, monotonic, label expression over n = 0..count-1, count)
SERIES = [
    (
        "= 1",
        "http.server.duration",
        "histogram",
        1,
        False,
        "'route', '/r' || n %% 10, 'method', CASE WHEN n < 10 THEN 'GET' ELSE 'POST' END",
        20,
    ),
    ("= 1", "http.server.requests", "sum", 1, True, "'route', '/r' || n %% 10, 'code', 200 + n / 10", 40),
    ("= 1", "system.cpu.utilization", "gauge", 0, False, "'host', 'web-' || n", 40),
    ("> 1", "http.server.duration", "histogram", 1, False, "'route', '/r' || n", 5),
    ("> 1", "process.jobs.done", "sum", 2, True, "'queue', 'q' || n", 5),
    ("> 1", "system.cpu.utilization", "gauge", 0, False, "'host', 'web-' || n", 10),
]


def reset_database() -> None:
    servers.recreate_database(DATABASE)


def create_series(cursor: Any) -> None:
    for where, name, kind, temporality, monotonic, labels, count in SERIES:
        cursor.execute(
            f"""
            INSERT INTO metrics_series (project_id, name, type, unit, temporality, is_monotonic, labels,
                                        labels_hash)
            SELECT p, %s, %s, '', %s, %s, l, sha256(convert_to(%s || l::text, 'UTF8'))
            FROM generate_series(1, 100) p, generate_series(0, %s - 1) n,
                 LATERAL (SELECT jsonb_build_object({labels}) AS l) labels
            WHERE p {where}
            """,
            [name, kind, temporality, monotonic, name, count],
        )


def histogram_sql() -> str:
    counts = ", ".join(f"floor(random() * {w * 8})::int8" for w in WEIGHTS)
    return f"ARRAY[{counts}]"


def point_sql(interval_big: float, interval_small: float) -> str:
    """One day of points of every series, spaced by its project's interval, phase by series id."""
    return f"""
        INSERT INTO metrics_point (project_id, series_id, ts, start_ts, value, count, sum, min, max,
                                   bounds, bucket_counts)
        SELECT s.project_id, s.id, t.ts,
               CASE WHEN s.temporality = 2 THEN %(origin)s END,
               CASE s.type WHEN 'gauge' THEN 50 + 30 * sin(extract(epoch FROM t.ts) / 3600 + s.id)
                                              + random() * 10
                           WHEN 'sum' THEN CASE WHEN s.temporality = 2
                               THEN floor(extract(epoch FROM t.ts - %(origin)s) * (1 + s.id %% 5))
                               ELSE floor(random() * 100) END END,
               h.n, h.n * (80 + random() * 80), CASE WHEN h.n > 0 THEN 1 + random() * 4 END,
               CASE WHEN h.n > 0 THEN 2000 + random() * 9000 END,
               CASE WHEN s.type = 'histogram' THEN %(bounds)s::float8[] END, h.buckets
        FROM metrics_series s
        CROSS JOIN LATERAL (SELECT CASE WHEN s.project_id = 1 THEN {interval_big} ELSE {interval_small}
                                    END * interval '1 second' AS every) i
        CROSS JOIN LATERAL generate_series(%(day)s + (s.id %% 97) * i.every / 97,
                                           %(day)s + interval '86399.999999 seconds', i.every) t(ts)
        CROSS JOIN LATERAL (SELECT CASE WHEN s.type = 'histogram' THEN {histogram_sql()} END AS buckets) b
        CROSS JOIN LATERAL (SELECT b.buckets, (SELECT sum(x)::int8 FROM unnest(b.buckets) x) AS n) h
        WHERE t.ts < %(now)s AND t.ts >= %(first)s
        ORDER BY t.ts  -- ingestion writes in arrival order, which is about time order (BRIN relies on it)
    """


def load_points(cursor: Any, total: int, now: datetime) -> dict[str, float]:
    from apps.metrics.storage import ensure_point_partitions
    from apps.storage.partitions import days_between

    first = now - timedelta(days=DAYS)
    ensure_point_partitions(days_between(first, now))
    seconds = DAYS * 86400
    interval_big = seconds * 100 / (total / 2)
    interval_small = seconds * 1980 / (total / 2)
    sql = point_sql(interval_big, interval_small)
    cursor.execute("SET work_mem = '512MB'")  # sorts a day of generated points in memory
    started, day = time.perf_counter(), first.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = 0
    while day < now:
        params = {
            "day": day,
            "now": now,
            "first": first,
            "origin": first - timedelta(days=1),
            "bounds": BOUNDS,
        }
        cursor.execute(sql, params)
        rows += cursor.rowcount
        print(f"  loaded {day:%Y-%m-%d}: {rows:,} rows, {time.perf_counter() - started:.0f} s", flush=True)
        day += timedelta(days=1)
    elapsed = time.perf_counter() - started
    cursor.execute("VACUUM ANALYZE metrics_point")
    cursor.execute("ANALYZE metrics_series")
    return {"rows": rows, "seconds": elapsed, "rows_per_second": rows / elapsed}


def roll_everything(now: datetime) -> dict[str, float]:
    from django.db import connection

    from apps.metrics.rollups import MINUTE, floor_to, rollup_range

    end = floor_to(now, MINUTE)
    start = end - timedelta(days=DAYS)
    started, day, rows = time.perf_counter(), start, 0
    while day < end:
        result = rollup_range(day, min(day + timedelta(days=1), end))
        rows += result.minute_rows
        day += timedelta(days=1)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO metrics_rollup_watermark (name, rolled_until) VALUES ('metrics', %s)"
            " ON CONFLICT (name) DO UPDATE SET rolled_until = EXCLUDED.rolled_until",
            [end],
        )
        cursor.execute("VACUUM ANALYZE metrics_rollup_1m")
        cursor.execute("VACUUM ANALYZE metrics_rollup_1h")
    return {"seconds": elapsed, "minute_rows": rows}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


CHARTS = {
    "d": (
        "24 h p95 latency chart, 1-minute step (20 series merged)",
        "http.server.duration",
        "p95",
        "60",
        "-24h",
        "",
    ),
    "d2": (
        "24 h p95 latency by route, 1-minute step (10 groups)",
        "http.server.duration",
        "p95",
        "60",
        "-24h",
        "route",
    ),
    "d3": (
        "24 h avg CPU per host, 1-minute step (40 series)",
        "system.cpu.utilization",
        "avg",
        "60",
        "-24h",
        "host",
    ),
    "e": ("30-day p95 latency chart, 1-hour step", "http.server.duration", "p95", "3600", "-30d", ""),
    "e2": (
        "30-day avg CPU per host, 1-hour step (40 series)",
        "system.cpu.utilization",
        "avg",
        "3600",
        "-30d",
        "host",
    ),
    "e3": ("30-day request rate, 1-hour step", "http.server.requests", "rate", "3600", "-30d", ""),
}


def chart_query(key: str, now: datetime) -> Any:
    from django.http import QueryDict

    from apps.metrics.query import parse_query

    _, name, agg, step, start, group_by = CHARTS[key]
    params = QueryDict(mutable=True)
    params.update({"name": name, "agg": agg, "step": step, "start": start})
    if group_by:
        params["group_by"] = group_by
    return parse_query(params, now)


def time_charts(now: datetime, runs: int) -> dict[str, dict[str, Any]]:
    from apps.metrics.selectors import metric_query_run

    results = {}
    for key in CHARTS:
        query = chart_query(key, now)
        _, series = metric_query_run(1, query)  # warm-up, and the shape of the answer
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            metric_query_run(1, query)
            samples.append((time.perf_counter() - started) * 1000)
        results[key] = {
            "p50": percentile(samples, 0.5),
            "p95": percentile(samples, 0.95),
            "resolution": query.resolution,
            "groups": len(series),
            "points": sum(len(s["points"]) for s in series),
        }
        print(f"  {key}: p50 {results[key]['p50']:.1f} ms, p95 {results[key]['p95']:.1f} ms", flush=True)
    return results


def new_minute_points(cursor: Any, minute: datetime, total: int) -> int:
    """`total` points spread over every series of every project, all inside one minute."""
    cursor.execute("SELECT count(*) FROM metrics_series")
    per_series = -(-total // cursor.fetchone()[0])
    cursor.execute(
        f"""
        INSERT INTO metrics_point (project_id, series_id, ts, start_ts, value, count, sum, bounds,
                                   bucket_counts)
        SELECT project_id, id, ts, start_ts, value, n, n * 100.0, bounds, buckets FROM (
            SELECT s.project_id, s.id, %(minute)s + (k * 60.0 / %(per)s) * interval '1 second' AS ts,
                   CASE WHEN s.temporality = 2 THEN %(origin)s END AS start_ts,
                   CASE s.type WHEN 'gauge' THEN random() * 100
                               WHEN 'sum' THEN CASE WHEN s.temporality = 2
                                   THEN extract(epoch FROM %(minute)s - %(origin)s) * 6 + k
                                   ELSE floor(random() * 100) END END AS value,
                   CASE WHEN s.type = 'histogram' THEN %(bounds)s::float8[] END AS bounds,
                   b.buckets, (SELECT sum(x)::int8 FROM unnest(b.buckets) x) AS n
            FROM metrics_series s CROSS JOIN generate_series(0, %(per)s - 1) k
            CROSS JOIN LATERAL (SELECT CASE WHEN s.type = 'histogram' THEN {histogram_sql()} END AS buckets) b
            ORDER BY random() LIMIT %(total)s
        ) rows
        """,
        {
            "minute": minute,
            "per": per_series,
            "total": total,
            "bounds": BOUNDS,
            "origin": minute - timedelta(days=DAYS + 1),
        },
    )
    return cursor.rowcount


def time_minute_rollups(now: datetime, points: int = 100_000, runs: int = 3) -> dict[str, Any]:
    from django.db import connection

    from apps.metrics.rollups import MINUTE, floor_to, rollup_range, rollup_run

    minute = floor_to(now, MINUTE)
    ranges, runs_full = [], []
    for offset in range(runs):
        start = minute + offset * MINUTE
        with connection.cursor() as cursor:
            inserted = new_minute_points(cursor, start, points)
            cursor.execute("ANALYZE metrics_point")
        started = time.perf_counter()
        result = rollup_range(start, start + MINUTE)
        ranges.append((time.perf_counter() - started, result.minute_rows, result.hour_rows))
        started = time.perf_counter()
        full = rollup_run(now=start + MINUTE)  # what beat runs: also re-rolls the late window
        runs_full.append((time.perf_counter() - started, full.start, full.end))
    return {"points": inserted, "minute": ranges, "run": runs_full}


def sizes(cursor: Any) -> list[tuple[str, int, float, float]]:
    """(table, rows, table MB per million rows, index MB per million rows), partitions summed."""
    result = []
    for table in ("metrics_point", "metrics_rollup_1m", "metrics_rollup_1h"):
        cursor.execute(
            "SELECT coalesce(sum(pg_relation_size(relid)), 0), coalesce(sum(pg_indexes_size(relid)), 0)"
            " FROM pg_partition_tree(%s) WHERE isleaf",
            [table],
        )
        heap, indexes = (float(size) for size in cursor.fetchone())
        cursor.execute(f"SELECT count(*) FROM {table}")
        rows = cursor.fetchone()[0]
        millions = max(rows, 1) / 1e6
        result.append((table, rows, heap / 2**20 / millions, indexes / 2**20 / millions))
    return result


def explain(key: str, now: datetime) -> str:
    from django.db import connection, transaction

    from apps.metrics import selectors

    query = chart_query(key, now)
    series = selectors.series_for(1, query)
    groups = selectors._groups(series, query.group_by)
    bounds = selectors._group_bounds(1, query, groups) if query.agg in selectors.PERCENTILES else {}
    sql, params = selectors._chart_sql(1, query, series[0].kind, groups, bounds)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'")  # as metric_query_run does
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def render(
    loaded: dict[str, Any],
    rolled: dict[str, Any],
    charts: dict[str, Any],
    minute: dict[str, Any],
    table_sizes: list[tuple[str, int, float, float]],
    plan: tuple[str, str],
    elapsed: float,
) -> str:
    targets = {"d": 50, "e": 300}
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    lines = [
        "# Metric query and rollup benchmark (`make bench-query-metrics`)",
        "",
        f"Machine: {os.cpu_count()} cores shared with other jobs (load average {load}); PostgreSQL"
        " server defaults (shared_buffers 128 MB, JIT on).",
        f"Data: {loaded['rows']:,} points over 100 projects (project 1: half, 100 series), {DAYS} days;"
        f" generated in PostgreSQL at {loaded['rows_per_second']:,.0f} rows/s with all indexes in place"
        f" ({loaded['seconds']:.0f} s). Rollups of all {DAYS} days: {rolled['seconds']:.0f} s"
        f" ({rolled['minute_rows']:,} 1-minute rows). Whole run {elapsed / 60:.0f} min.",
        "",
        "## Chart queries (project 1, as the API runs them; p50/p95 over repeated runs, ms)",
        "",
        "| | query | source | groups, points | p50 | p95 | target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, result in charts.items():
        target = f"< {targets[key]} ms" if key in targets else ""
        lines.append(
            f"| {key} | {CHARTS[key][0]} | {result['resolution']} rollups | {result['groups']},"
            f" {result['points']:,} | {result['p50']:.1f} | {result['p95']:.1f} | {target} |"
        )
    lines += ["", f"## Rolling up one minute of {minute['points']:,} new points", ""]
    for (seconds, minute_rows, hour_rows), (run_seconds, start, end) in zip(
        minute["minute"], minute["run"], strict=True
    ):
        lines.append(
            f"- rollup of that minute: **{seconds:.2f} s** ({minute_rows:,} 1m rows written, {hour_rows:,}"
            f" 1h rows: the hour is still open); the beat task's run over"
            f" {int((end - start).total_seconds() / 60)} minutes (this one plus the re-rolled late"
            f" window): {run_seconds:.2f} s"
        )
    lines += [
        "",
        "## Sizes",
        "",
        "| table | rows | table MB / million rows | index MB / million rows |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {t} | {r:,} | {h:.1f} | {i:.1f} |" for t, r, h, i in table_sizes]
    lines += ["", f"## EXPLAIN (ANALYZE, BUFFERS) of the slowest: {plan[0]}", "", "```", plan[1], "```", ""]
    return "\n".join([*lines, NOTES])


NOTES = """## Reading these figures

- Scale: the chart queries read rollup rows only (plus raw points after the watermark, none here).
  Project 1's series get at least one point a minute from about 9 million points up, so from there
  a 24 h chart reads exactly 1,440 1m rows per series and a 30-day chart 720 1h rows per series,
  whatever the raw volume: (d) and (e) at 50 million points read the same rows as measured here.
  Raw-point work scales linearly: loading and the 30-day backfill (rows/s above), and sizes
  (per million rows above).
- Rolling up a minute costs in proportion to its points (one BRIN range scan of that minute, one
  hash aggregate); it does not depend on how much history the tables hold.
- Here the watermark is at the chart's end, so no raw tail is read; live, a chart also reads the
  minute or two after the watermark from raw points (a few thousand rows for project 1).
- The machine was shared: the load average is printed above; on 2 cores a load of 4 roughly
  doubles wall-clock times.
"""


def prepared_data(total: int, reuse: bool) -> tuple[datetime, dict[str, Any], dict[str, Any]]:
    """Load and roll up, or with BENCH_REUSE=1 resume from what an earlier run stored."""
    import json

    from django.db import connection

    from apps.metrics.rollups import MINUTE, floor_to

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_state (key text PRIMARY KEY, value jsonb)")
        cursor.execute("SELECT key, value FROM bench_state")
        state = {
            key: json.loads(value) if isinstance(value, str) else value for key, value in cursor.fetchall()
        }
    if not reuse or "loaded" not in state:
        now = floor_to(datetime.now(UTC), MINUTE)
        with connection.cursor() as cursor:
            create_series(cursor)
            state["loaded"] = {**load_points(cursor, total, now), "now": now.isoformat()}
        _save_state(state)
        print(f"loaded {state['loaded']}", flush=True)
    now = datetime.fromisoformat(state["loaded"]["now"])
    if "rolled" not in state:
        state["rolled"] = roll_everything(now)
        _save_state(state)
        print(f"rolled up {state['rolled']}", flush=True)
    return now, state["loaded"], state["rolled"]


def _save_state(state: dict[str, Any]) -> None:
    import json

    from django.db import connection

    with connection.cursor() as cursor:
        for key, value in state.items():
            cursor.execute(
                "INSERT INTO bench_state VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                [key, json.dumps(value)],
            )


def main() -> None:
    total = int(os.environ.get("BENCH_POINTS", "50000000"))
    runs = int(os.environ.get("BENCH_RUNS", "30"))
    reuse = os.environ.get("BENCH_REUSE") == "1"
    started = time.perf_counter()
    if not reuse:
        reset_database()
    import django

    django.setup()
    from django.db import connection

    now, loaded, rolled = prepared_data(total, reuse)
    charts = time_charts(now, runs)
    slowest = max(charts, key=lambda key: charts[key]["p95"])
    plan = (f"{slowest} ({CHARTS[slowest][0]})", explain(slowest, now))
    with connection.cursor() as cursor:  # after anything an earlier run (BENCH_REUSE) added
        cursor.execute("SELECT max(ts) FROM metrics_point WHERE ts >= %s", [now - timedelta(minutes=1)])
        latest = cursor.fetchone()[0] or now
    minute = time_minute_rollups(max(latest, now) + timedelta(minutes=5))
    with connection.cursor() as cursor:
        table_sizes = sizes(cursor)
    report = render(loaded, rolled, charts, minute, table_sizes, plan, time.perf_counter() - started)
    (ROOT / "bench" / "QUERY_METRICS_RESULTS.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
