"""`make bench-overview`: server time of the project overview page load, to bench/OVERVIEW_RESULTS.md.

Data: the 10-million-row log data set of the query benchmark, made by its own loader
(bench/query_logs.py: 100 projects, 4 days, one project holding half), in a database of its own
(`vigil_bench_overview`), plus for that big project the last 24 h of spans (1 M) and metrics (the
OTel HTTP latency histogram for 20 routes and 80 gauges every 10 s: 864 k points, through the
ingestion decoder and writer), then beat's maintenance run synchronously (log counts, text
indexes, metric rollups, span and point counts, VACUUM ANALYZE). BENCH_REUSE=1 keeps what an
earlier run loaded.

Measured: a signed-in member's page load as the browser makes it — GET /projects/{id}/ (HTML),
then every request overview.js sends on load (activity, new warning/error patterns, recent errors,
p95 latency by service) — through Django's test client in this process, so each figure is server time
(middleware, view, SQL, JSON), no network. p50/p95 over BENCH_RUNS runs after warm-up, for the
default range (1 h) and for 24 h; and the organization home with all 100 projects in one
organization. Environment: BENCH_ROWS (10_000_000), BENCH_DAYS (4), BENCH_RUNS (30), BENCH_REUSE.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import query_logs, servers  # noqa: E402 (query_logs points DATABASE_URL at its database: replaced below)

DATABASE = "vigil_bench_overview"
os.environ["DATABASE_URL"] = servers.database_url(DATABASE)
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"

WARMUP = 3
SPANS = int(os.environ.get("BENCH_SPANS", "1000000"))
METRIC_HOURS = float(os.environ.get("BENCH_METRIC_HOURS", "24"))
METRIC_INTERVAL = 10  # seconds
ROUTES = [f"/api/v1/{name}" for name in ("orders", "cart")]
SERVICES = query_logs.SERVICES
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
TARGET_MS = 150.0
LATENCY = "http.server.request.duration"
EMAIL = "bench@example.test"


def reset_database() -> None:
    servers.recreate_database(DATABASE)


def database_exists() -> bool:
    return servers.database_exists(DATABASE)


def is_loaded() -> bool:
    """Whether the data set is there to reuse (a fresh machine has not even the database)."""
    from django.db import connection

    if not database_exists():
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_overview_state')")
        if cursor.fetchone()[0] is None:
            return False
        cursor.execute("SELECT loaded_at FROM bench_overview_state")
        return cursor.fetchone() is not None


def stored_timings() -> dict[str, float]:
    """The loading figures of the run that loaded the data (BENCH_REUSE keeps them)."""
    import json

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT timings FROM bench_overview_state")
        value = cursor.fetchone()[0]
    return json.loads(value) if isinstance(value, str) else dict(value)


def load_spans(project_id: int, now: datetime) -> int:
    """1 M spans over the last 24 h: traces of 4 spans, 2 % with an error status, by COPY."""
    from django.db import connection

    from apps.storage.partitions import days_between
    from apps.traces.storage import ensure_partitions

    ensure_partitions(days_between(now - timedelta(days=1), now))
    rng = random.Random(11)
    chunk = min(100_000, SPANS)
    for number in range(SPANS // chunk):
        lines = []
        base = now - timedelta(days=1) + timedelta(days=1) * number * chunk / SPANS
        for index in range(chunk // 4):
            trace = f"{rng.getrandbits(128):032x}"
            start = base + timedelta(days=1) * (index * 4) / SPANS
            parent = ""
            for depth in range(4):
                span = f"{rng.getrandbits(64):016x}"
                duration = rng.randint(200_000, 900_000_000) >> depth
                status = 2 if rng.random() < 0.02 else 0
                begin = start + timedelta(microseconds=depth * 150)
                end = begin + timedelta(microseconds=duration // 1000)
                lines.append(
                    f"{project_id}\t{trace}\t{span}\t{parent or chr(92) + 'N'}\tGET {rng.choice(ROUTES)}\t2"
                    f"\t{begin.isoformat()}\t{end.isoformat()}\t{duration}\t{status}\t\t{rng.choice(SERVICES)}"
                    "\t\t{}\t{}\t[]\t[]\n"
                )
                parent = span
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                "COPY traces_span (project_id, trace_id, span_id, parent_span_id, name, kind, start_ts,"
                " end_ts, duration_ns, status_code, status_message, service, trace_state, attributes,"
                " resource, events, links) FROM STDIN"
            ) as copy,
        ):
            copy.write("".join(lines).encode())
    return SPANS


def load_metrics(project_id: int, now: datetime) -> int:
    """The last 24 h of a service's metrics every 10 s, through the ingestion decoder and writer."""
    from apps.ingestion import native, writer
    from apps.ingestion.cleaning import Cleaner
    from apps.ingestion.redaction import redactor_for

    rng = random.Random(12)
    cleaner = Cleaner(redactor_for(project_id))
    written, records = 0, []
    moment = now - timedelta(hours=METRIC_HOURS)
    while moment < now:
        stamp = moment.isoformat()
        for service in SERVICES:
            for route in ROUTES:
                counts = [rng.randint(0, 40) for _ in range(len(BOUNDS) + 1)]
                labels = {"service.name": service, "http.route": route}
                buckets = {"bounds": BOUNDS, "counts": counts}
                records.append(
                    {
                        "name": LATENCY,
                        "type": "histogram",
                        "unit": "s",
                        "timestamp": stamp,
                        "buckets": buckets,
                        "labels": labels,
                    }
                )
            for gauge in range(8):
                value, labels = rng.random() * 100, {"service.name": service}
                records.append(
                    {
                        "name": f"process.gauge.{gauge}",
                        "type": "gauge",
                        "value": value,
                        "timestamp": stamp,
                        "labels": labels,
                    }
                )
        moment += timedelta(seconds=METRIC_INTERVAL)
        if len(records) >= 50_000 or moment >= now:
            batch = native.decode_metrics(project_id, records, cleaner)
            assert not batch.rejected, batch.reasons
            writer.write_batch(project_id, batch)
            written += len(batch.points)
            records = []
    return written


def load(total: int, days: int) -> dict[str, Any]:
    from django.db import connection

    from apps.dashboards import counts as event_counts
    from apps.metrics import rollups

    now = datetime.now(UTC)
    ids = query_logs.make_projects()
    print(f"loading {total:,} log rows over {days} days into {len(ids)} projects", flush=True)
    started = time.monotonic()
    query_logs.load(ids, total, days, now)
    timings = {"logs (query benchmark loader)": time.monotonic() - started}
    started = time.monotonic()
    spans = load_spans(ids[0], now)
    timings[f"{spans:,} spans (COPY)"] = time.monotonic() - started
    started = time.monotonic()
    points = load_metrics(ids[0], now)
    timings[f"{points:,} metric points (ingestion writer)"] = time.monotonic() - started
    print("maintenance...", flush=True)
    timings.update(query_logs.maintain(datetime.now(UTC), ids))
    started = time.monotonic()
    rollups.rollup_range(now - timedelta(days=1), now)
    rollups.rollup_run()
    timings["metric rollups of the 24 h"] = time.monotonic() - started
    started = time.monotonic()
    event_counts.count_events(budget=3600)
    timings["count_events (span and point counts, first run)"] = time.monotonic() - started
    with connection.cursor() as cursor:
        for table in ("traces_span", "metrics_point", "metrics_rollup_1m", "metrics_series"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        # json, not jsonb: keeps the steps in the order they ran
        cursor.execute("CREATE TABLE bench_overview_state (loaded_at timestamptz, timings json)")
        cursor.execute("INSERT INTO bench_overview_state VALUES (%s, %s)", [now, _json(timings)])
    return timings


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def member_client(project_id: int) -> Any:
    """A signed-in owner of the big project's organization, which holds all 100 projects."""
    from django.test import Client

    from apps.accounts.models import User
    from apps.projects.models import Membership, Project, Role

    project = Project.objects.get(pk=project_id)
    user = User.objects.filter(email=EMAIL).first() or User.objects.create_user(EMAIL, "bench-pass-phrase-1")
    Membership.objects.get_or_create(
        organization=project.organization, user=user, defaults={"role": Role.OWNER}
    )
    Project.objects.exclude(organization=project.organization).update(organization=project.organization)
    client = Client(HTTP_HOST="127.0.0.1")  # a host ALLOWED_HOSTS accepts by default
    client.force_login(user)
    return client


def page_load(client: Any, project_id: int, range_seconds: int) -> list[tuple[str, Callable[[], Any]]]:
    """The requests of one overview load, as overview.js makes them for this range."""
    end = datetime.now(UTC)
    window = {"start": (end - timedelta(seconds=range_seconds)).isoformat(), "end": end.isoformat()}
    step = next(b for b in (60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400) if range_seconds / b <= 300)
    api = f"/api/v1/projects/{project_id}"
    latency = {"name": LATENCY, "agg": "p95", "step": step, "group_by": "service.name", **window}
    patterns = {**window, "q": "level>=warn", "order": "new", "limit": 6, "sample": 1000}
    errors = {**window, "q": "level>=error", "limit": 8}
    return [
        ("HTML /projects/{id}/", lambda: client.get(f"/projects/{project_id}/")),
        ("activity (counts per bucket)", lambda: client.get(f"/projects/{project_id}/activity/", window)),
        ("new warning/error patterns", lambda: client.get(f"{api}/logs/patterns", patterns)),
        ("recent errors", lambda: client.get(f"{api}/logs", errors)),
        ("p95 latency by service", lambda: client.get(f"{api}/metrics/query", latency)),
    ]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(client: Any, project_id: int, range_seconds: int, runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    for number in range(WARMUP + runs):
        run: dict[str, float] = {}
        for name, call in page_load(client, project_id, range_seconds):
            started = time.perf_counter()
            response = call()
            run[name] = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (name, response.status_code, response.content[:300])
        if number < WARMUP:
            continue
        html, *requests = run.values()
        run["whole load, requests one after another"] = sum(run.values())
        run["critical path: HTML + slowest request (the page sends them at once)"] = html + max(requests)
        for name, value in run.items():
            samples.setdefault(name, []).append(value)
    return samples


def measure_home(client: Any, organization_id: int, runs: int) -> list[float]:
    samples = []
    for number in range(WARMUP + runs):
        started = time.perf_counter()
        response = client.get(f"/orgs/{organization_id}/")
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200 and response.content.count(b'data-testid="project-card"') == 100
        if number >= WARMUP:
            samples.append(elapsed)
    return samples


def render(
    scenarios: dict[str, dict[str, list[float]]],
    home: list[float],
    timings: dict[str, float],
    rows: dict[str, int],
    load: tuple[float, ...],
    runs: int,
    days: int,
) -> str:
    lines = [
        "# Project overview page load (`make bench-overview`)",
        "",
        f"Data: {rows['logs']:,} log rows over the last {days} days in 100 projects (the query benchmark's "
        f"data set, its loader and seed; the measured project holds {rows['project_logs']:,} of them), "
        f"plus for that project {rows['spans']:,} spans and {rows['points']:,} metric points over the "
        "last 24 h. Maintenance as beat runs it (log counts, text indexes, metric rollups, span and point "
        "counts) before measuring.",
        f"Machine: {os.cpu_count()} cores shared with other jobs, load average "
        f"{' / '.join(f'{v:.1f}' for v in load)} (1/5/15 min) when the timings started; PostgreSQL and this "
        "process on the same box. Server time per request through Django's test client (middleware, view, "
        f"SQL, rendering; no network), {runs} runs after {WARMUP} warm-up loads, milliseconds.",
        "",
    ]
    for title, samples in scenarios.items():
        lines += [f"## {title}", "", "| request | p50 ms | p95 ms |", "| --- | ---: | ---: |"]
        for name, values in samples.items():
            bold = "**" if name.startswith("whole") else ""
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            lines.append(f"| {bold}{name}{bold} | {p50:.1f} | {bold}{p95:.1f}{bold} |")
        whole = percentile(samples["whole load, requests one after another"], 0.95)
        verdict = "met" if whole < TARGET_MS else "NOT met"
        lines += [
            "",
            f"Target p95 < {TARGET_MS:.0f} ms for the whole load: **{verdict}** ({whole:.1f} ms).",
            "",
        ]
    lines += [
        "## Organization home, 100 projects in one organization",
        "",
        "| request | p50 ms | p95 ms |",
        "| --- | ---: | ---: |",
        f"| GET /orgs/{{id}}/ (rate, error ratio, sparkline of every project: 3 queries in all) "
        f"| {statistics.median(home):.1f} | {percentile(home, 0.95):.1f} |",
        "",
    ]
    if timings:
        lines += ["## Loading and maintenance", "", "| step | seconds (COPY: rows/s) |", "| --- | ---: |"]
        # build_indexes names every index it built: the count says enough here.
        short = {re.sub(r"(built): .*", r"\1)", name): value for name, value in timings.items()}
        lines += [f"| {name} | {value:,.1f} |" for name, value in short.items()]
        lines.append("")
    lines += [NOTES]
    return "\n".join(lines)


NOTES = """## Reading these figures

- The whole-load figure adds every request's server time as if they ran one after another; the
  browser sends the five data requests at once after the HTML, so what a member waits for is
  closer to the critical path (HTML + the slowest request) on a server with free cores.
- The charts read per-minute counts, whatever the range: logs from apps.logs.counts, spans and
  metric points from apps.dashboards.counts (beat, every minute); only the minute or two after
  their watermarks and the partial minute at the range start come from the raw tables. So the
  activity request costs about the same for any volume of spans and points. (A first version
  counted spans and points in the raw tables: 24 h activity took 601 ms p50 / 676 ms p95 here.)
- The slowest request of the 24 h load is the metric API's p95 by service: 20 histogram series
  merged per 5-minute step from 1m rollups (apps/metrics/selectors.py, measured on its own in
  QUERY_METRICS_RESULTS.md).
- The new-patterns request fingerprints the newest 1,000 warnings and errors of the range (the
  API's `sample`; about 20 us a row): its cost is bounded whatever the range, and "new" means
  first seen within that sample.
"""


def main() -> None:
    total = int(os.environ.get("BENCH_ROWS", "10000000"))
    days = int(os.environ.get("BENCH_DAYS", "4"))
    runs = int(os.environ.get("BENCH_RUNS", "30"))
    reuse = os.environ.get("BENCH_REUSE") == "1"
    if not reuse or not database_exists():
        reset_database()
    import django

    django.setup()
    from django.db import connection

    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
    timings = stored_timings() if reuse and is_loaded() else load(total, days)
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM projects_project")
        project_id = cursor.fetchone()[0]
        cursor.execute(
            "SELECT (SELECT count(*) FROM logs_event),"
            " (SELECT count(*) FROM logs_event WHERE project_id = %s),"
            " (SELECT count(*) FROM traces_span), (SELECT count(*) FROM metrics_point)",
            [project_id],
        )
        logs, project_logs, spans, points = cursor.fetchone()
    rows = {"logs": logs, "project_logs": project_logs, "spans": spans, "points": points}
    from apps.dashboards import counts as event_counts
    from apps.logs import counts
    from apps.metrics import rollups

    counts.count_logs()  # as beat would have: the watermarks are a minute old at most
    rollups.rollup_run()
    started = time.monotonic()
    event_counts.count_events(budget=3600)
    timings["count_events before measuring (catch-up from its watermark)"] = time.monotonic() - started
    client = member_client(project_id)
    load_average = os.getloadavg()
    scenarios = {
        "Overview, range 1 h (the default)": measure(client, project_id, 3600, runs),
        "Overview, range 24 h": measure(client, project_id, 86400, runs),
    }
    from apps.projects.models import Project

    home = measure_home(client, Project.objects.get(pk=project_id).organization_id, runs)
    report = render(scenarios, home, timings, rows, load_average, runs, days)
    (ROOT / "bench" / "OVERVIEW_RESULTS.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
