"""CPU per Sentry event, in-process: a micro-benchmark for comparing code changes of the errors path.

What runs: the one-event envelopes `make bench-errors` sends (a Python exception, 15 frames, 20
breadcrumbs, ~6.4 KiB, a fresh event_id each) over a hot set of ISSUES issues (made first), in
batches of BATCH requests as a worker's group-commit writer takes them: `ingest.prepare` of each
request (as the pool thread runs it), `ingest.commit` of the batch (admission in one Redis call,
the dedup INSERT and the COPY in one transaction), and every GROUP_EVERY batches
`grouper.group_pending` of what they stored (as the grouper thread does). Reported per event,
median of ROUNDS rounds: this process's CPU in each phase (time.process_time), the CPU of its
PostgreSQL backend in each phase (/proc/<pid>/schedstat: on-CPU nanoseconds, so the backend's
parsing, TOAST compression and index upkeep — not the WAL writer, checkpointer or autovacuum,
which `make bench-errors` counts), and Redis's (INFO cpu). CPU per event moves far less with other
load on a shared machine than events/s do.

Usage: python bench/errors_cpu.py (BENCH_CPU_ITERATIONS events per round, default 2000;
BENCH_CPU_STATEMENTS=1 also splits the backend's CPU by SQL statement, the COPY excepted). To
compare with another commit: `git archive COMMIT | tar -x -C DIR`, copy this file into DIR/bench
and run it there with BENCH_CPU_DATABASE set apart. Embedded PostgreSQL and Redis when
DATABASE_URL / REDIS_URL are unset (bench/servers.py).
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import servers  # noqa: E402

servers.ensure()
DATABASE = os.environ.get("BENCH_CPU_DATABASE", "vigil_bench_errors_cpu")
os.environ["DATABASE_URL"] = servers.database_url(DATABASE)
os.environ["REDIS_URL"] = servers.redis_url(10)
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.ingest_settings"

ROUNDS = 5
ISSUES = 1000
BATCH = 32  # requests per group commit: what 64 connections into 2 workers make
# Batches per grouping run (the grouper gathers for ERRORS_GROUP_DELAY_MS).
GROUP_EVERY = int(os.environ.get("BENCH_CPU_GROUP_EVERY", "4"))
PHASES = ("prepare", "commit", "group")


def backend_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def redis_seconds(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> None:
    servers.recreate_database(DATABASE)
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.db import connection

    from apps.errors import grouper, ingest
    from apps.errors.dsn import dsn_key_create
    from apps.projects.models import Organization, Project
    from bench.errors import envelope, event

    project = Project.objects.create(organization=Organization.objects.create(name="bench"), name="shop")
    key = dsn_key_create(project, "bench")
    redis_client = redis.Redis.from_url(settings.REDIS_URL)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    counter = iter(range(10**9))
    statements: dict[str, list[float]] = {}

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = backend_ns(backend)
        try:
            return execute(sql, params, many, context)
        finally:
            statements.setdefault(" ".join(sql.split())[:90], [0.0])[0] += backend_ns(backend) - started

    def request() -> ingest.SentryRequest:
        body = envelope(event(next(counter) % ISSUES, uuid.uuid4().hex))
        return ingest.SentryRequest(
            method="POST",
            project_id=project.pk,
            kind="envelope",
            query=f"sentry_key={key.public_key}",
            sentry_auth="",
            content_encoding="",
            content_length=str(len(body)),
            body=body,
        )

    def run(events: int, spent: dict[str, list[float]] | None) -> None:
        requests = [request() for _ in range(events)]
        batches = 0
        for start in range(0, events, BATCH):
            clocks = (time.process_time(), backend_ns(backend), redis_seconds(redis_client))
            prepared = [ingest.prepare(r) for r in requests[start : start + BATCH]]
            clocks = _add(spent, "prepare", clocks, backend, redis_client)
            replies = ingest.commit([p for p in prepared if isinstance(p, ingest.Prepared)])
            assert all(reply.status == 200 for reply in replies), replies[0].body
            clocks = _add(spent, "commit", clocks, backend, redis_client)
            batches += 1
            if batches % GROUP_EVERY == 0 or start + BATCH >= events:
                grouper.group_pending(project.pk)
                _add(spent, "group", clocks, backend, redis_client)

    run(ISSUES, None)  # the hot set: every issue made once
    if os.environ.get("BENCH_CPU_STATEMENTS"):
        connection.execute_wrappers.append(timed)
    iterations = int(os.environ.get("BENCH_CPU_ITERATIONS", "2000"))
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)  # as config/asgi.py
    print(f"load average {os.getloadavg()}")
    results: list[dict[str, list[float]]] = []
    for _ in range(ROUNDS):
        spent: dict[str, list[float]] = {f"{p} {w}": [0.0] for p in PHASES for w in ("worker", "pg", "redis")}
        run(iterations, spent)
        results.append({name: [1e6 * sum(v) / iterations] for name, v in spent.items()})
    print(f"µs of CPU per event, median of {ROUNDS} rounds of {iterations} events (batches of {BATCH}):")
    for who in ("worker", "pg", "redis"):
        figures = {p: statistics.median(r[f"{p} {who}"][0] for r in results) for p in PHASES}
        total = sum(figures.values())
        print(f"  {who:6}: " + ", ".join(f"{p} {v:.1f}" for p, v in figures.items()) + f"; total {total:.1f}")
    if statements:
        print("PostgreSQL backend µs per event by statement (all rounds):")
        for sql, (ns,) in sorted(statements.items(), key=lambda item: -item[1][0]):
            print(f"  {ns / 1000 / (ROUNDS * iterations):7.1f}  {sql}")


def _add(
    spent: dict[str, list[float]] | None,
    phase: str,
    clocks: tuple[float, int, float],
    backend: int,
    redis_client: Any,
) -> tuple[float, int, float]:
    now = (time.process_time(), backend_ns(backend), redis_seconds(redis_client))
    if spent is not None:
        spent[f"{phase} worker"][0] += now[0] - clocks[0]
        spent[f"{phase} pg"][0] += (now[1] - clocks[1]) / 1e9
        spent[f"{phase} redis"][0] += now[2] - clocks[2]
    return now


if __name__ == "__main__":
    main()
