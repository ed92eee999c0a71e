"""`make bench-query-logs`: log search/stats latency at 10 million rows, to bench/QUERY_LOGS_RESULTS.md.

What runs: a fresh `vigil_bench_logs` database (production schema via migrations), 100 projects,
10 million log rows over the last 4 days (2.5 million a day, one project holds half) with
realistic messages and attributes, loaded with COPY into the partitioned table with its indexes
in place (partitions made by ensure_partitions). Then the background maintenance exactly as beat
would run it, synchronously: count_logs until caught up, build_indexes for every sealed
partition, and a VACUUM ANALYZE standing in for autovacuum. Then p50/p95 over repeated runs of
the read paths (apps.logs selectors, as the API calls them), sizes, and EXPLAIN of the slowest.
Environment: BENCH_ROWS (default 10_000_000), BENCH_DAYS (4), BENCH_RUNS (30), DATABASE_HOST_URL.
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import servers  # noqa: E402

servers.ensure()
DATABASE = "vigil_bench_logs"
os.environ["DATABASE_URL"] = servers.database_url(DATABASE)
os.environ["REDIS_URL"] = servers.redis_url(9)
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"

PROJECTS = 100
CHUNK_ROWS = 200_000
SERVICES = [
    "api",
    "web",
    "checkout",
    "payments",
    "auth",
    "search",
    "worker",
    "scheduler",
    "gateway",
    "db-proxy",
]
# (weight, level, template): {n} numbers, {ms} durations, {uuid}, {ip}, {hex}, {path}, {word}.
TEMPLATES = [
    (30, 9, "GET {path} 200 in {ms}ms user={n} request_id={uuid}"),
    (12, 9, "POST {path} 201 in {ms}ms bytes={n} client={ip}"),
    (8, 5, 'cache miss for key "user:{n}:profile", loading from primary'),
    (8, 5, "query took {ms}ms: SELECT id, status FROM orders WHERE customer_id = {n} LIMIT 50"),
    (6, 9, "user {uuid} signed in from {ip} via {word}"),
    (5, 9, "job {hex} finished in {ms}ms, {n} items processed"),
    (4, 13, "slow request: GET {path} took {ms}ms (threshold 500ms)"),
    (3, 13, "retrying upstream call to {word} attempt {n}/5 after {ms}ms"),
    (2, 17, "payment {n} failed: card declined by issuer (code {n}) for order {uuid}"),
    (2, 17, "connection reset by peer {ip}:{n} while reading response from {word}"),
    (1, 17, 'unhandled exception in worker {hex}: KeyError: "{word}"'),
    (1, 21, "out of memory: killed process {n} ({word}) rss={n}kB"),
]
WORDS = ["inventory", "billing", "search", "recommendations", "shipping", "pricing", "ledger", "notifier"]
PATHS = ["/api/v1/orders/{n}", "/api/v1/users/{n}/cart", "/health", "/api/v1/products?page={n}", "/login"]
RARE_WORD = "deadlock"  # one message in ~200,000: the word search has to look at the whole day
RARE_EVERY = 200_000


def reset_database() -> None:
    servers.recreate_database(DATABASE)


def make_projects() -> list[int]:
    from apps.projects.models import Organization, Project

    ids = []
    for number in range(PROJECTS):
        organization = Organization.objects.create(name=f"bench org {number}")
        ids.append(Project.objects.create(organization=organization, name=f"bench {number}").pk)
    return ids


def project_weights(ids: list[int]) -> list[float]:
    """The first project holds half the rows; the rest share the other half on a Zipf-like curve."""
    tail = [1 / (rank + 1) for rank in range(len(ids) - 1)]
    scale = 0.5 / sum(tail)
    return [0.5] + [weight * scale for weight in tail]


def render_message(rng: random.Random, template: str) -> str:
    out = template
    while "{" in out:
        out = (
            out.replace("{path}", rng.choice(PATHS), 1)
            .replace("{n}", str(rng.randint(1, 99_999)), 1)
            .replace("{ms}", str(rng.randint(1, 2_500)), 1)
            .replace(
                "{uuid}",
                "%08x-%04x-4%03x-a%03x-%012x" % tuple(rng.getrandbits(b) for b in (32, 16, 12, 12, 48)),  # noqa: UP031
                1,
            )
            .replace("{ip}", f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", 1)
            .replace("{hex}", f"{rng.getrandbits(64):016x}", 1)
            .replace("{word}", rng.choice(WORDS), 1)
        )
    return out


def rows_text(rng: random.Random, count: int, start: datetime, span: timedelta, ids: list[int]) -> bytes:
    """COPY text lines, in time order within the chunk like real ingestion."""
    weights = project_weights(ids)
    projects = rng.choices(ids, weights, k=count)
    templates = rng.choices(TEMPLATES, [t[0] for t in TEMPLATES], k=count)
    offsets = sorted(rng.random() * span.total_seconds() for _ in range(count))
    lines = []
    for project_id, (_, level, template), offset in zip(projects, templates, offsets, strict=True):
        ts = start + timedelta(seconds=offset)
        message = render_message(rng, template)
        if rng.randrange(RARE_EVERY) == 0:
            message += f" ({RARE_WORD} detected, transaction rolled back)"
        trace = (
            f"{rng.getrandbits(128):032x}\t{rng.getrandbits(64):016x}" if rng.random() < 0.6 else "\\N\t\\N"
        )
        status = rng.choice((200, 200, 200, 201, 404, 500))
        attributes = (
            f'{{"duration_ms": {rng.randint(1, 2500)}, "http.status_code": {status},'
            f' "user_id": {rng.randint(1, 5000)}}}'
        )
        resource = f'{{"host": "web-{rng.randint(1, 12)}", "region": "eu-west-1"}}'
        service = SERVICES[project_id % 3 + rng.randrange(len(SERVICES) - 2)]
        lines.append(
            f"{project_id}\t{ts.isoformat()}\t{(ts + timedelta(seconds=1)).isoformat()}\t{level}\t{service}"
            f"\t{trace}\t{message}\t{attributes}\t{resource}\n"
        )
    return "".join(lines).encode()


def load(ids: list[int], total: int, days: int, now: datetime) -> float:
    from django.db import connection

    from apps.logs.storage import ensure_partitions
    from apps.storage.partitions import days_between

    first = now - timedelta(days=days)
    ensure_partitions(days_between(first, now))
    rng = random.Random(42)
    chunks = max(1, total // CHUNK_ROWS)
    span = (now - first) / chunks
    started = time.monotonic()
    for number in range(chunks):
        data = rows_text(rng, total // chunks, first + span * number, span, ids)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                "COPY logs_event (project_id, ts, observed_ts, level, service, trace_id, span_id, message,"
                " attributes, resource) FROM STDIN"
            ) as copy,
        ):
            copy.write(data)
        if number % 10 == 0:
            print(f"  loaded {(number + 1) * (total // chunks):,} rows", flush=True)
    return time.monotonic() - started


def maintain(now: datetime, ids: list[int]) -> dict[str, float]:
    """Beat's work, synchronously; COPY into the open partition is timed before and after the
    slice indexes exist, since their whole point is to leave ingestion alone."""
    from django.db import connection

    from apps.logs import counts, indexes

    timings = {}
    started = time.monotonic()
    counts.count_logs(now=now, budget=3600)
    timings["count_logs (catch-up from the watermark)"] = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
    timings["COPY rows/s into the open partition, before slice indexes"] = copy_rate(ids)
    started = time.monotonic()
    built = indexes.build_indexes(now=now, max_builds=1000)
    slices = sum(1 for name in built if "_message_trgm_h" in name)
    traces = sum(1 for name in built if name.endswith("_trace"))
    label = (
        f"{len(built) - slices - traces} trigram and {traces} trace on sealed day leaves,"
        f" {slices} hourly slices of today's leaves"
    )
    timings[f"build_indexes ({len(built)} built: {label})"] = time.monotonic() - started
    started = time.monotonic()
    indexes.summarize_trace_blooms(now=now)
    timings["summarize_trace_blooms"] = time.monotonic() - started
    timings["COPY rows/s into the open partition, with slice indexes"] = copy_rate(ids)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) logs_event")
        cursor.execute("VACUUM (ANALYZE) logs_count_1m")
    timings["VACUUM ANALYZE"] = time.monotonic() - started
    return timings


def copy_rate(ids: list[int], rows: int = 200_000, project_id: int = 0) -> float:
    """Rows/s of one COPY of current-time rows (for a project outside the benchmark), then removed."""
    from django.db import connection

    rng = random.Random(7)
    now = datetime.now(UTC)
    data = rows_text(rng, rows, now - timedelta(minutes=5), timedelta(minutes=4), [project_id] * len(ids))
    best = 0.0
    for _ in range(2):
        with connection.cursor() as cursor:
            started = time.monotonic()
            with cursor.cursor.copy(
                "COPY logs_event (project_id, ts, observed_ts, level, service, trace_id, span_id, message,"
                " attributes, resource) FROM STDIN"
            ) as copy:
                copy.write(data)
            best = max(best, rows / (time.monotonic() - started))
            cursor.execute("DELETE FROM logs_event WHERE project_id = %s", [project_id])
    return best


def load_and_maintain(total: int, days: int) -> tuple[list[int], datetime, float, dict[str, float]]:
    reset_database()
    import django

    django.setup()
    now = datetime.now(UTC)
    ids = make_projects()
    print(f"loading {total:,} rows over {days} days into {PROJECTS} projects", flush=True)
    load_seconds = load(ids, total, days, now)
    print(f"loaded in {load_seconds:.0f}s; maintenance...", flush=True)
    return ids, now, load_seconds, maintain(datetime.now(UTC), ids)


def main() -> None:
    total = int(os.environ.get("BENCH_ROWS", "10000000"))
    days = int(os.environ.get("BENCH_DAYS", "4"))
    runs = int(os.environ.get("BENCH_RUNS", "30"))
    if os.environ.get("BENCH_SKIP_LOAD"):  # re-measure an already loaded database
        import django

        django.setup()
        from apps.projects.models import Project

        ids = list(Project.objects.order_by("id").values_list("id", flat=True))
        now, load_seconds = datetime.now(UTC), float("nan")
        maintenance = maintain(datetime.now(UTC), ids)
    else:
        ids, now, load_seconds, maintenance = load_and_maintain(total, days)
    from bench import query_logs_report

    results = query_logs_report.run_all(ids[0], runs, RARE_WORD)
    report = query_logs_report.render(results, total, days, load_seconds, maintenance, now)
    (ROOT / "bench" / "QUERY_LOGS_RESULTS.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
