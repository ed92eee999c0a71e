"""`make bench-errors`: Sentry events through the envelope endpoint into grouped issues,
written to bench/ERRORS_RESULTS.md.

What runs: a fresh `vigil_bench_errors` database (migrations), real servers (one uvicorn worker
per core on one port, bench/ingest_serve.py, kept alive by bench/chaos.py's Supervisor as a
process manager would), a project and its DSN, and client threads posting one-event envelopes (as
SDKs send them: one event per envelope) of typical Python exceptions — 15 frames with context
lines, 20 breadcrumbs, ~9 KiB — spread over a hot set of 1,000 issues (made before the measured
run, the steady state of a real project). The endpoint stores each event ungrouped and answers;
each worker's grouper folds them into issues in batches (apps/errors/grouper.py).

Phases: (1) closed loop, as fast as the server answers: acknowledged events/s and latency;
(2) open loop at half that rate: latency p50/p99 when the server is not saturated; throughout,
(3) arrival → issue: a sampler follows one acknowledged event every 0.25 s until its issue_id is
set (from the moment it was sent: an upper bound). At the end every acknowledged event is looked
up: stored, in an issue, and the issues' counts add up to the events stored (each counted once).
With --kill, one worker is killed (SIGKILL) in the middle of phase 1 and restarted by the
supervisor; clients retry a failed envelope as SDKs with a retrying transport do (same event_id:
deduplicated).

Usage: python bench/errors.py [--seconds 20] [--clients 8] [--issues 1000] [--kill]
(also BENCH_DURATION, BENCH_CLIENTS, BENCH_ISSUES); DATABASE_HOST_URL or DATABASE_URL and REDIS_URL
(embedded when unset). The client is Python (httpx), on the same machine: on a small machine it
takes cores from the server, so the figures are a floor, not the server's ceiling.
"""

from __future__ import annotations

import argparse
import os
import signal
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


def envelope(payload: dict[str, object]) -> bytes:
    import orjson

    return orjson.dumps({"event_id": payload["event_id"]}) + b'\n{"type":"event"}\n' + orjson.dumps(payload)


class Load:
    """Client threads; each acknowledged event_id is kept, with the time it was first sent."""

    def __init__(self, url: str, hot: int) -> None:
        self.url = url
        self.hot = hot
        self.lock = threading.Lock()
        self.acked: dict[str, float] = {}
        self.latencies: list[float] = []
        self.failures = 0
        self.retries = 0
        self.latest: tuple[str, float] | None = None

    def send(self, http: object, number: int) -> None:
        import httpx

        assert isinstance(http, httpx.Client)
        payload = event(number % self.hot)
        body = envelope(payload)
        first_sent = time.monotonic()
        for attempt in range(5):
            started = time.monotonic()
            try:
                status = http.post(self.url, content=body).status_code
            except httpx.TransportError:
                status = 0
            if status == 200:
                with self.lock:
                    self.latencies.append(time.monotonic() - started)
                    self.acked[str(payload["event_id"])] = first_sent
                    self.latest = (str(payload["event_id"]), first_sent)
                return
            with self.lock:
                self.failures += 1
                self.retries += attempt < 4
            time.sleep(0.2)  # a retrying transport's backoff

    def closed_loop(self, clients: int, seconds: float) -> None:
        stop_at = time.monotonic() + seconds

        def client(number: int) -> None:
            import httpx

            with httpx.Client(timeout=30) as http:
                sent = number
                while time.monotonic() < stop_at:
                    self.send(http, sent)
                    sent += clients

        run_threads(client, clients)

    def paced(self, clients: int, rate: float, seconds: float) -> None:
        """Open loop: each client sends on its own schedule (rate / clients per second); a client
        behind schedule sends at once, so the offered rate holds while the server keeps up."""
        interval = clients / rate
        start = time.monotonic()

        def client(number: int) -> None:
            import httpx

            with httpx.Client(timeout=30) as http:
                tick = 0
                while True:
                    due = start + (number / clients + tick) * interval
                    if due - start >= seconds:
                        return
                    time.sleep(max(0.0, due - time.monotonic()))
                    self.send(http, number + tick * clients)
                    tick += 1

        run_threads(client, clients)


def run_threads(target: object, count: int) -> None:
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]  # type: ignore[arg-type]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class IssueDelay:
    """Every 0.25 s, the newest acknowledged event is followed until it has an issue."""

    def __init__(self, load: Load, project_id: int) -> None:
        self.load = load
        self.project_id = project_id
        self.delays: list[float] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        from django.db import connection

        from apps.errors.models import Event

        try:
            while not self.stopping.wait(0.25):
                latest = self.load.latest
                if latest is None:
                    continue
                event_id, sent = latest
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    if Event.objects.filter(
                        project_id=self.project_id, event_id=event_id, issue__isnull=False
                    ).exists():
                        self.delays.append(time.monotonic() - sent)
                        break
                    time.sleep(0.01)
        finally:
            connection.close()


def main() -> None:
    import django
    import httpx

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_DURATION", "20")))
    parser.add_argument("--clients", type=int, default=int(os.environ.get("BENCH_CLIENTS", "8")))
    parser.add_argument("--issues", type=int, default=int(os.environ.get("BENCH_ISSUES", "1000")))
    parser.add_argument("--kill", action="store_true", help="kill -9 one worker mid-run")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    servers.recreate_database("vigil_bench_errors")
    django.setup()
    from django.db import connection
    from django.db.models import Sum

    from apps.errors.dsn import dsn_key_create
    from apps.errors.models import Event, Issue
    from apps.projects.models import Organization, Project
    from bench import chaos

    project = Project.objects.create(organization=Organization.objects.create(name="bench"), name="shop")
    key = dsn_key_create(project, "bench")
    workers = os.cpu_count() or 1
    chaos.VAR.mkdir(parents=True, exist_ok=True)
    port = chaos.free_port()
    supervisor = chaos.Supervisor({**os.environ, "DATABASE_POOL": "true"})
    for n in range(workers):
        serve = [sys.executable, str(ROOT / "bench" / "ingest_serve.py"), str(port)]
        supervisor.start(f"errors-web-{n}", serve)
    threading.Thread(target=chaos.watch, args=(supervisor,), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    wait_up(base)
    url = f"{base}/api/{project.pk}/envelope/?sentry_key={key.public_key}"

    try:
        with httpx.Client(timeout=30) as http:
            warm = Load(url, args.issues)
            for issue in range(args.issues):
                warm.send(http, issue)
        wait_grouped(project.pk, 120)
        warm_events = Event.objects.filter(project=project).count()

        load = Load(url, args.issues)
        delay = IssueDelay(load, project.pk)
        delay.thread.start()
        killed = ""
        if args.kill:

            def kill_one() -> None:
                nonlocal killed
                time.sleep(args.seconds / 2)
                pid = supervisor.pid("errors-web-0")
                os.kill(pid, signal.SIGKILL)
                killed = (
                    f"worker {pid} killed (SIGKILL) at {args.seconds / 2:.0f} s, restarted by the supervisor"
                )

            threading.Thread(target=kill_one).start()
        started = time.monotonic()
        load.closed_loop(args.clients, args.seconds)
        closed_seconds = time.monotonic() - started
        closed_latencies = sorted(load.latencies)
        closed_acked = len(load.acked)
        rate = closed_acked / closed_seconds
        load.latencies = []
        paced_seconds = max(5, args.seconds // 2)
        load.paced(args.clients, max(1.0, rate / 2), paced_seconds)
        paced_latencies = sorted(load.latencies)
        paced_acked = len(load.acked) - closed_acked
        delay.stopping.set()
        delay.thread.join()
        drained = wait_grouped(project.pk, 120)
    finally:
        supervisor.stop_all()

    acked_ids = list(load.acked)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(issue_id) FROM errors_event"
            " WHERE project_id = %s AND event_id = ANY(%s::uuid[])",
            [project.pk, acked_ids],
        )
        stored, grouped = cursor.fetchone()
    events_total = Event.objects.filter(project=project).count()
    counted = Issue.objects.filter(project=project).aggregate(total=Sum("event_count"))["total"] or 0
    report = render(
        args=args,
        workers=workers,
        load_at_start=load_at_start,
        rate=rate,
        closed=closed_latencies,
        paced_rate=paced_acked / paced_seconds,
        paced=paced_latencies,
        delays=sorted(delay.delays),
        acked=len(acked_ids),
        stored=stored,
        grouped=grouped,
        events_total=events_total - warm_events,
        counted=counted - warm_events,
        issues=Issue.objects.filter(project=project).count(),
        failures=load.failures,
        killed=killed,
        drained=drained,
        restarts=sum(supervisor.restarts.values()),
    )
    (ROOT / "bench" / "ERRORS_RESULTS.md").write_text(report)
    print(report)


def wait_up(base: str) -> None:
    import httpx

    for _ in range(600):
        try:
            httpx.get(base + "/v1/logs", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def wait_grouped(project_id: int, limit: float) -> float | None:
    """Seconds until no event of the project is left ungrouped (None: not within `limit`)."""
    from apps.errors.models import Event

    started = time.monotonic()
    while time.monotonic() - started < limit:
        if not Event.objects.filter(project_id=project_id, issue__isnull=True).exists():
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def pct(values: list[float], p: float) -> str:
    if not values:
        return "n/a"
    return f"{values[min(len(values) - 1, int(len(values) * p))] * 1000:.0f} ms"


NOTES = """
### Where the time goes, and the design that follows

Before (one transaction per event, issue row locked; 56 events/s, p50 135 ms at load 8.8):
py-spy on one worker under this benchmark (15 s, load 7.6) found the worker busy only ~14 % of a
core. Of its samples, 51 % were in the Sentry handler: storing the event 28 % (the issue lookup
`SELECT … FOR UPDATE` 10 %, the ORM save of the issue 6 %, Django compiling SQL 20 % across all),
the DSN key query 15 %, the Redis token bucket 8 %. The rest of the wall time was waiting on
PostgreSQL: seven round trips and a commit per event, and events of one issue queued on its row
lock — the hot set of 1,000 issues makes every busy issue a queue.

Now the request does: the DSN key query, the rate-limit and quota/meter calls (Redis), then one
transaction — dedup keys (`INSERT … ON CONFLICT DO NOTHING RETURNING`) and a binary COPY into the
day partition — and answers after COMMIT, with no issue row touched. The grouping hashes are
computed in the request (CPU, no I/O). Each web process's grouper then takes the stored events of
a project in batches of up to 2,000 under the project's grouping lock and writes each touched
issue once per batch (`UPDATE … FROM unnest(…)`), the users affected with one INSERT, and the
events' issue ids with one UPDATE — about eight statements per batch whatever its size, all in
one transaction, so a worker killed mid-batch leaves its events ungrouped for the next run
(sweeps every 5 s per process and every minute from beat) and nothing counted twice.

One event per envelope is what SDKs send, so each event is one HTTP request: with the Python
client on the same 2 cores, the request overhead (HTTP parsing, the thread-pool hop, three
round trips) bounds the rate long before grouping does; the ≥ 5,000 events/s target needs the
quiet machine at least, and probably a client that is not Python.
"""


def render(**r: object) -> str:
    args = r["args"]
    assert isinstance(args, argparse.Namespace)
    closed, paced, delays = r["closed"], r["paced"], r["delays"]
    assert isinstance(closed, list) and isinstance(paced, list) and isinstance(delays, list)
    size = len(envelope(event(1)))
    lost = int(r["acked"]) - int(r["stored"])  # type: ignore[call-overload]
    kill_line = f"\nFault: {r['killed']}.\n" if r["killed"] else ""
    return f"""## Error tracking (`make bench-errors`)

One-event envelopes (Python exception, 15 frames, 20 breadcrumbs, {size / 1024:.1f} KiB) over a hot set
of {args.issues} issues; {args.clients} client threads on the same machine; {r["workers"]} uvicorn workers
(each with its grouper thread); {args.seconds} s closed loop, then an open loop at half its rate.
Load average at the start: {r["load_at_start"]:.1f} on {os.cpu_count()} cores.
{kill_line}
| measure | value |
|---|---|
| acknowledged events/s (closed loop) | {r["rate"]:,.0f} |
| latency p50 / p99 (closed loop) | {pct(closed, 0.5)} / {pct(closed, 0.99)} |
| open loop at half that rate: achieved events/s | {r["paced_rate"]:,.0f} |
| latency p50 / p99 at half rate | {pct(paced, 0.5)} / {pct(paced, 0.99)} |
| arrival → issue p50 / p99 ({len(delays)} samples) | {pct(delays, 0.5)} / {pct(delays, 0.99)} |
| failed attempts (retried by the client) | {r["failures"]} |
| acknowledged / stored / in an issue | {r["acked"]} / {r["stored"]} / {r["grouped"]} |
| lost (acknowledged, not stored) | {lost} |
| events stored / counted by their issues | {r["events_total"]} / {r["counted"]} |
| all grouped after the load | {"yes" if r["drained"] is not None else "no"} ({r["drained"] or 0:.1f} s) |
| worker restarts | {r["restarts"]} |
| issues | {r["issues"]} |
{NOTES}"""


if __name__ == "__main__":
    main()
