"""`make bench-errors`: Sentry events through the envelope endpoint into grouped issues,
written to bench/ERRORS_RESULTS.md.

What runs: a fresh `vigil_bench_errors` database (migrations), a real server (uvicorn, one worker
per core, bench/ingest_settings.py), a project and its DSN, and closed-loop client threads each
posting one-event envelopes (as SDKs send them: one event per envelope) of typical Python
exceptions — 15 frames with context lines, 20 breadcrumbs, ~9 KiB — spread over a hot set of 1,000
issues. Grouping, the issue row update and the event insert are all inside each request.
Reported: acknowledged events/s, latency percentiles, and that every acknowledged event is stored.
Environment: BENCH_DURATION (s, default 20), BENCH_CLIENTS (threads, default 8), BENCH_ISSUES
(default 1000); DATABASE_HOST_URL or DATABASE_URL and REDIS_URL (embedded when unset).
The client is Python (httpx), on the same machine: on a small machine it takes cores from the
server, so the figure is a floor, not the server's ceiling.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import servers  # noqa: E402

servers.ensure()
os.environ["DATABASE_URL"] = servers.database_url("vigil_bench_errors")
os.environ["REDIS_URL"] = servers.redis_url(8)
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.ingest_settings"


def event(issue: int) -> dict[str, object]:
    frames = [
        {
            "module": f"shop.layer{depth}",
            "function": f"handler_{issue}" if depth == 14 else f"step{depth}",
            "filename": f"shop/layer{depth}.py",
            "lineno": 10 + depth,
            "context_line": f"    result = step{depth + 1}(request, cart)",
            "pre_context": ["def step(request, cart):", "    cart.validate()"],
            "post_context": ["    return result", ""],
            "in_app": depth > 4,
            "vars": {"request": "<WSGIRequest: POST '/checkout'>", "cart": "{'items': 3}"},
        }
        for depth in range(15)
    ]
    return {
        "event_id": uuid.uuid4().hex,
        "platform": "python",
        "level": "error",
        "release": "shop@1.4.0",
        "environment": "production",
        "exception": {
            "values": [{"type": "ValueError", "value": f"bad cart {issue}", "stacktrace": {"frames": frames}}]
        },
        "breadcrumbs": {
            "values": [{"category": "query", "message": f"SELECT {n}", "level": "info"} for n in range(20)]
        },
        "user": {"id": f"user-{issue % 97}"},
        "contexts": {"trace": {"trace_id": uuid.uuid4().hex, "span_id": uuid.uuid4().hex[:16]}},
    }


def main() -> None:
    import httpx
    import orjson

    duration = int(os.environ.get("BENCH_DURATION", "20"))
    clients = int(os.environ.get("BENCH_CLIENTS", "8"))
    hot = int(os.environ.get("BENCH_ISSUES", "1000"))
    servers.recreate_database("vigil_bench_errors")
    import django

    django.setup()
    from apps.errors.dsn import dsn_key_create
    from apps.errors.models import Event, Issue
    from apps.projects.models import Organization, Project
    from bench.ingest_runs import Servers

    project = Project.objects.create(organization=Organization.objects.create(name="bench"), name="shop")
    key = dsn_key_create(project, "bench")
    workers = os.cpu_count() or 1
    server = Servers(workers)
    url = f"{server.url}/api/{project.pk}/envelope/?sentry_key={key.public_key}"
    latencies: list[float] = []
    acknowledged = [0]
    failures = [0]
    lock = threading.Lock()
    stop_at = [0.0]

    def client(number: int) -> None:
        seen: list[float] = []
        ok = bad = 0
        with httpx.Client(timeout=30) as http:
            sent = number
            while time.monotonic() < stop_at[0]:
                payload = event(sent % hot)
                body = (
                    orjson.dumps({"event_id": payload["event_id"]})
                    + b'\n{"type":"event"}\n'
                    + orjson.dumps(payload)
                )
                started = time.monotonic()
                response = http.post(url, content=body)
                seen.append(time.monotonic() - started)
                ok, bad = (ok + 1, bad) if response.status_code == 200 else (ok, bad + 1)
                sent += clients
        with lock:
            latencies.extend(seen)
            acknowledged[0] += ok
            failures[0] += bad

    # Warm up: every hot issue exists before the measured run (the steady state of a real project).
    stop_at[0] = float("inf")
    with httpx.Client(timeout=30) as http:
        for issue in range(hot):
            payload = event(issue)
            http.post(url, content=b'{}\n{"type":"event"}\n' + orjson.dumps(payload))
    warm_events = Event.objects.count()
    stop_at[0] = time.monotonic() + duration
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.stop()
    stored = Event.objects.count() - warm_events
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    size = len(orjson.dumps(event(1)))
    report = f"""## Error tracking (`make bench-errors`)

One-event envelopes (Python exception, 15 frames, 20 breadcrumbs, {size / 1024:.1f} KiB) over a hot set
of {hot} issues; {clients} closed-loop client threads on the same machine; {workers} uvicorn workers;
{duration} s. Load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.

| measure | value |
|---|---|
| acknowledged events/s | {acknowledged[0] / duration:,.0f} |
| latency p50 / p99 | {pct(0.5):.1f} ms / {pct(0.99):.1f} ms |
| refused (non-200) | {failures[0]} |
| acknowledged vs stored | {acknowledged[0]} / {stored} |
| issues | {Issue.objects.count()} |
"""
    (ROOT / "bench" / "ERRORS_RESULTS.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
