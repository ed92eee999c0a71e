"""Worker CPU per ingestion request, in-process: a micro-benchmark for comparing code changes.

What runs: the bodies `make bench-ingest` sends (1,000 OTLP protobuf or native JSON log records),
each handed `ITERATIONS` times to `endpoint.handle` (key check, parse, decode, quota and metering,
COPY into a real PostgreSQL, live announcement), as a worker's pool thread does, with the worker's
garbage-collector settings (config/asgi.py). Reported: CPU of this process per request
(time.process_time: what the worker spends, syscalls included; waits for PostgreSQL or Redis are
not in it), median of ROUNDS rounds, and the phases of one request (parse, decode, write) timed
alone. CPU per request moves far less with other load on a shared machine than records/s do.

Usage: python bench/ingest_cpu.py [otlp_logs native_logs] (BENCH_CPU_ITERATIONS, default 200).
To compare with another commit: `git archive COMMIT | tar -x -C DIR`, copy this file into DIR/bench,
and run both under one `python -m config.devstack exec` with BENCH_CPU_DATABASE set apart.
Embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset (bench/servers.py).
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import servers  # noqa: E402

servers.ensure()
DATABASE = os.environ.get("BENCH_CPU_DATABASE", "vigil_bench_cpu")  # another to compare commits
os.environ["DATABASE_URL"] = servers.database_url(DATABASE)
os.environ["REDIS_URL"] = servers.redis_url(8)
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.ingest_settings"
os.environ["DATABASE_POOL"] = "true"  # as the benchmark serves (bench/ingest_runs.Servers)

ROUNDS = 5
PATHS = {"otlp_logs": "/v1/logs", "native_logs": "/api/v1/ingest/logs"}
TYPES = {"otlp_logs": "application/x-protobuf", "native_logs": "application/json"}


def main() -> None:
    if not servers.database_exists(DATABASE):
        servers.recreate_database(DATABASE)
    import django

    django.setup()
    from bench import ingest_runs

    names = sys.argv[1:] or list(PATHS)
    iterations = int(os.environ.get("BENCH_CPU_ITERATIONS", "200"))
    project_id, key = _tenant()
    try:
        from bench import metering
    except ImportError:
        pass  # a commit before billing: nothing to turn on
    else:
        metering.allow_everything(project_id)  # spike protection on, as bench-ingest runs
    records = ingest_runs.log_records(random.Random(42))
    bodies = {
        "otlp_logs": ingest_runs.otlp_logs_body(records),
        "native_logs": ingest_runs.native_logs_body(records),
    }
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)  # as config/asgi.py
    print(f"load average {os.getloadavg()}")
    results: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(ROUNDS):
        for name in names:
            results[name].append(_round(name, bodies[name], key, iterations))
    for name in names:
        per_request = statistics.median(results[name])
        rounds = ", ".join(f"{value:.0f}" for value in results[name])
        print(
            f"{name}: {per_request:.0f} µs CPU per request ({per_request / 1000:.2f} µs per record);"
            f" rounds {rounds}"
        )
        print(f"  phases: {_phases(name, bodies[name], key, project_id)}")
    print(f"load average {os.getloadavg()}")


def _tenant() -> tuple[int, str]:
    """A fresh organization, project and ingest key (the database is kept between runs)."""
    from apps.accounts.models import User
    from apps.audit import Actor
    from apps.projects.models import KeyScope, Membership, Organization, Project, Role
    from apps.projects.services import api_key_create

    organization = Organization.objects.create(name="Bench CPU")
    user = User.objects.create_user(f"bench-cpu-{time.time_ns()}@example.test", "bench-password-123")
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    project = Project.objects.create(organization=organization, name="bench")
    _, secret = api_key_create(project, KeyScope.INGEST, "bench", by=Actor(user=user))
    return project.id, secret


def _request(name: str, body: bytes, key: str) -> Any:
    from apps.ingestion import endpoint

    return endpoint.IngestRequest(
        method="POST",
        content_type=TYPES[name],
        content_encoding="",
        content_length=str(len(body)),
        secret=key,
        body=body,
    )


def _round(name: str, body: bytes, key: str, iterations: int) -> float:
    from django.db import close_old_connections

    from apps.ingestion import endpoint

    route = endpoint.ROUTES[PATHS[name]]
    request = _request(name, body, key)
    started = time.process_time()
    for _ in range(iterations):
        close_old_connections()
        reply = endpoint.handle(route, request)
        if reply.status != 200:
            raise RuntimeError(f"{name}: {reply.status} {reply.body[:300]!r}")
    return (time.process_time() - started) / iterations * 1e6


def _phases(name: str, body: bytes, key: str, project_id: int) -> str:
    """ms of CPU per phase of one request, each the median of 50 runs alone."""
    from apps.ingestion import native, otlp, otlp_decode, services, writer

    def timed(function: Any) -> float:
        samples = []
        for _ in range(50):
            started = time.process_time()
            function()
            samples.append(time.process_time() - started)
        return statistics.median(samples) * 1000

    if name == "otlp_logs":
        message = otlp.parse_request("logs", body, otlp.PROTOBUF)[0]
        parse = timed(lambda: otlp.parse_request("logs", body, otlp.PROTOBUF))
        decode = timed(
            lambda: otlp_decode.decode_logs(
                project_id, message, services._cleaner(project_id, clean_body=body)
            )
        )
        batch = otlp_decode.decode_logs(project_id, message, services._cleaner(project_id, clean_body=body))
    else:
        records = native.parse_records(body)[0]
        parse = timed(lambda: native.parse_records(body))
        decode = timed(lambda: native.decode_logs(project_id, records, services._cleaner(project_id)))
        batch = native.decode_logs(project_id, records, services._cleaner(project_id))
    write = timed(lambda: writer.write_batch(project_id, batch))
    return f"parse {parse:.2f} ms, decode {decode:.2f} ms, write (COPY) {write:.2f} ms"


if __name__ == "__main__":
    main()
