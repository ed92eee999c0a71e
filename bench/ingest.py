"""`make bench-ingest`: ingestion throughput on this machine, written to bench/INGEST_RESULTS.md.

What runs: a fresh `vigil_bench` database (production schema and indexes, via migrations), a
real server (uvicorn, one worker per core, production settings except a raised per-key rate
limit), and `wrk` replaying prepared bodies of 1,000 records (OTLP protobuf logs, native JSON
logs, OTLP protobuf metrics). Then the same rows through raw psycopg binary COPY from two
processes (two connections), the ceiling the endpoint is compared with. Then a paced client at
half the peak rate for latency, and a py-spy profile of one worker under load.
Environment: BENCH_DURATION (s, default 20), BENCH_CONNECTIONS (default 16), DATABASE_HOST_URL or
DATABASE_URL and REDIS_URL (embedded servers when unset: bench/servers.py), BENCH_SCENARIOS (e.g.
`otlp_logs,native_logs`: only those scenarios' rounds and half-rate phases, summarised on the
terminal with CPU per record; INGEST_RESULTS.md is left as it is).
16 connections, 8 per worker: with 8 the closed-loop clients left the machine ~20 % idle (native
JSON: 80 % busy, 77-80k records/s; with 16: 95 % busy, 87-90k), so the peak was not measured.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import servers  # noqa: E402

servers.ensure()
DATABASE_URL = servers.database_url("vigil_bench")
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ["REDIS_URL"] = servers.redis_url(7)
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.ingest_settings"

from bench import ingest_runs  # noqa: E402


def reset_database() -> None:
    servers.recreate_database("vigil_bench")


def main() -> None:
    duration = int(os.environ.get("BENCH_DURATION", "20"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "16"))
    names = [name for name in os.environ.get("BENCH_SCENARIOS", "").split(",") if name]
    reset_database()
    import django

    django.setup()
    if names:
        unknown = set(names) - set(ingest_runs.SCENARIOS)
        if unknown:
            raise SystemExit(
                f"unknown BENCH_SCENARIOS {sorted(unknown)}; known: {list(ingest_runs.SCENARIOS)}"
            )
        print(ingest_runs.summary(ingest_runs.run_all(duration, connections, names), names))
        return
    started = time.time()
    results = ingest_runs.run_all(duration, connections)
    report = ingest_runs.render(results, duration, connections, time.time() - started)
    (ROOT / "bench" / "INGEST_RESULTS.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
