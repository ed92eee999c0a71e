"""`make bench-alerts`: the alert evaluator under 10,000 policies, to bench/ALERTS_RESULTS.md.

Data (its own database, `vigil_bench_alerts`; sizes from BENCH_* variables): BENCH_PROJECTS
projects (1,000), each with BENCH_POLICIES_PER_PROJECT policies (10) in a realistic mix of kinds
(3 log_count, 2 log_ratio, 2 span, 1 absence, 1 metric, 1 heartbeat; one-minute interval, slots
spread evenly over the minute), and telemetry of the last BENCH_MINUTES minutes (30): about
BENCH_LOGS_PER_MINUTE log rows (20) and a fifth as many spans per project and minute, and one CPU
gauge per project every 10 s (rolled up). Smaller than the query benchmark's 10 M rows per 100
projects on purpose: spread over 1,000 projects that density would be 100 M rows a day, more
than this shared 2-core machine loads in a session; the per-evaluation cost below says how it grows.

Run: production's path for BENCH_SECONDS (120). Beat's part is played by a thread sending the
`alerts-tick` entry's message (apps.alerts.tasks.tick, every 10 s, expiring after 10 s, as in
config/celery.py) to the Celery broker (Redis); BENCH_WORKERS (2) evaluator processes are real
Celery workers (`celery worker --pool=solo`, the project's Celery settings) consuming that queue:
they run the tick, which plans the batch tasks (apps.alerts.scheduler.batches_plan), and the batch
tasks at their ETAs. Evaluator CPU, batch sizes and lag are theirs, broker and Celery included.
Meanwhile
BENCH_CANARIES (20) projects receive, at random moments, 60 error logs through the real ingest
endpoint (Django's test client, in process), which breach a `level>=error` count > 50 policy:
breach → firing is the time from the ingest answer to the firing transition's commit.

Notification latency (issue 17): the canary rule is P1 (group_wait 0) and routed to a webhook
channel whose receiver is a real HTTP server on 127.0.0.1 in this process; a notifier process
runs the notification tasks' bodies on beat's 5 s schedule (dispatch, then send; see notifier()).
breach → received is the time from the ingest answer to the firing notice's arrival. The
sender's own throughput and its behaviour under SIGKILL are `make bench-notify`'s
(bench/notify_sender.py), not measured again here.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import servers  # noqa: E402
from bench.receiver import WebhookReceiver  # noqa: E402

servers.ensure()
RESULTS = ROOT / "bench" / "ALERTS_RESULTS.md"
DATABASE = "vigil_bench_alerts"
os.environ["DATABASE_URL"] = servers.database_url(DATABASE)
os.environ["REDIS_URL"] = servers.redis_url(10)
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
os.environ["NOTIFY_ALLOW_PRIVATE_ADDRESSES"] = "true"  # the webhook receiver is on 127.0.0.1

PROJECTS = int(os.environ.get("BENCH_PROJECTS", "1000"))
PER_PROJECT = int(os.environ.get("BENCH_POLICIES_PER_PROJECT", "10"))
MINUTES = int(os.environ.get("BENCH_MINUTES", "30"))
LOGS_PER_MINUTE = int(os.environ.get("BENCH_LOGS_PER_MINUTE", "20"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "120"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
CANARIES = int(os.environ.get("BENCH_CANARIES", "20"))
SERVICES = ["api", "web", "checkout", "payments", "auth"]
TARGET_LAG_P99 = 10.0
TICK = 10.0  # beat's schedule of the alerts tick (config/celery.py)
NOTIFY_TICK = 5.0  # beat's schedule of the notifications dispatch task (config/celery.py)
NOTIFY_GRACE = 15.0  # the notifier runs this much longer than the evaluators: the last canaries


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


# --- Loading -----------------------------------------------------------------------------------


def load() -> dict[str, Any]:
    from django.db import connection

    from apps.alerts.models import Heartbeat, Policy
    from apps.audit.actor import Actor
    from apps.logs import storage as log_storage
    from apps.metrics import storage as metric_storage
    from apps.metrics.rollups import rollup_run
    from apps.projects.models import KeyScope, Organization, Project
    from apps.projects.services import api_key_create
    from apps.traces import storage as trace_storage

    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    days = sorted(
        {(now - timedelta(minutes=MINUTES + 60)).date(), now.date(), (now + timedelta(days=1)).date()}
    )
    # Each telemetry table's owning app makes its partitions.
    log_storage.ensure_partitions(days)
    trace_storage.ensure_partitions(days)
    metric_storage.ensure_point_partitions(days)
    organizations = Organization.objects.bulk_create(
        [Organization(name=f"bench org {n // 10}") for n in range(0, PROJECTS, 10)]
    )
    projects = Project.objects.bulk_create(
        [Project(organization=organizations[n // 10], name=f"bench {n}") for n in range(PROJECTS)]
    )
    ids = [p.pk for p in projects]
    start = now - timedelta(minutes=MINUTES)
    # Rows up to a few minutes past the run's end: windows stay as full while it runs as at its start.
    minutes = MINUTES + int(SECONDS // 60) + 5
    with connection.cursor() as cursor:
        # Levels: 1 in 20 errors, 1 in 10 warnings; a few "timeout" messages for text searches.
        cursor.execute(
            """
            INSERT INTO logs_event (project_id, ts, observed_ts, level, service, message, attributes)
            SELECT p, t, t, CASE WHEN i %% 20 = 0 THEN 17 WHEN i %% 10 = 0 THEN 13 ELSE 9 END,
                   (%s::text[])[1 + (i %% 5)],
                   CASE WHEN i %% 50 = 0 THEN 'upstream timeout after ' || i || ' ms'
                        ELSE 'GET /api/items/' || i || ' 200' END,
                   jsonb_build_object('route', '/api/items')
            FROM unnest(%s::bigint[]) p, generate_series(0, %s - 1) i,
                 LATERAL (SELECT %s::timestamptz + (i * %s) * interval '1 second' AS t) ts
            """,
            [SERVICES, ids, minutes * LOGS_PER_MINUTE, start, 60.0 / LOGS_PER_MINUTE],
        )
        spans_per_minute = max(1, LOGS_PER_MINUTE // 5)
        cursor.execute(
            """
            INSERT INTO traces_span (project_id, trace_id, span_id, name, kind, start_ts, end_ts, duration_ns,
                                     status_code, service)
            SELECT p, md5(p || '-' || i), left(md5(i || '-' || p), 16), 'GET /api/items', 2, t,
                   t + (20 + i %% 300) * interval '1 millisecond', (20 + i %% 300) * 1000000,
                   CASE WHEN i %% 25 = 0 THEN 2 ELSE 0 END, (%s::text[])[1 + (i %% 5)]
            FROM unnest(%s::bigint[]) p, generate_series(0, %s - 1) i,
                 LATERAL (SELECT %s::timestamptz + (i * %s) * interval '1 second' AS t) ts
            """,
            [SERVICES, ids, minutes * spans_per_minute, start, 60.0 / spans_per_minute],
        )
        cursor.execute(
            """
            INSERT INTO metrics_series (project_id, name, type, labels, labels_hash)
            SELECT p, 'system.cpu.utilization', 'gauge', '{"host.name": "web-1"}', decode(md5(p::text), 'hex')
            FROM unnest(%s::bigint[]) p
            """,
            [ids],
        )
        cursor.execute(
            """
            INSERT INTO metrics_point (project_id, series_id, ts, value)
            SELECT s.project_id, s.id, %s::timestamptz + i * interval '10 seconds', 0.3 + (i %% 7) / 20.0
            FROM metrics_series s, generate_series(0, %s - 1) i
            """,
            [start, minutes * 6],
        )
        cursor.execute("ANALYZE logs_event; ANALYZE traces_span; ANALYZE metrics_point")
    rollup_run(now)
    policies = []
    for index, project in enumerate(projects):
        policies += policies_for(project, now, index)
    Policy.objects.bulk_create(policies)
    heartbeat_policies = Policy.objects.filter(kind="heartbeat").order_by("id")
    Heartbeat.objects.bulk_create(
        [
            Heartbeat(project_id=p.project_id, name=p.name, policy=p, last_ping_at=now, period_seconds=3600)
            for p in heartbeat_policies
        ]
    )
    keys = {p.pk: api_key_create(p, KeyScope.INGEST, "bench", by=Actor())[1] for p in projects[:CANARIES]}
    return {"seconds": time.perf_counter() - started, "keys": keys, "now": now}


def policies_for(project: Any, now: datetime, index: int) -> list[Any]:
    from apps.alerts.models import Policy

    def make(kind: str, spec: dict[str, Any], n: int, **fields: Any) -> Policy:
        slot = (
            now
            + timedelta(seconds=10)
            + timedelta(seconds=((index * PER_PROJECT + n) * 60.0) / (PROJECTS * PER_PROJECT))
        )
        return Policy(
            project=project,
            name=f"{kind} {n}",
            kind=kind,
            spec=spec,
            next_due_at=slot,
            **{"op": ">", "threshold": 1e9, "window_seconds": 300, **fields},
        )

    mix = [
        # The canary rule; P1, so its notices go out without group_wait.
        make("log_count", {"query": "level>=error", "group_by": None}, 0, threshold=50, priority="P1"),
        make("log_count", {"query": "level>=warn service:api", "group_by": None}, 1),
        make("log_count", {"query": '"timeout"', "group_by": "service"}, 2),
        make("log_ratio", {"query": "level>=error", "total_query": "", "group_by": None}, 3, threshold=50),
        make(
            "log_ratio", {"query": "level>=error", "total_query": "", "group_by": "service"}, 4, threshold=50
        ),
        make(
            "span",
            {"measure": "error_ratio", "service": "", "name": "", "group_by": "service"},
            5,
            threshold=50,
        ),
        make("span", {"measure": "p95", "service": "", "name": "", "group_by": None}, 6),
        make(
            "absence",
            {"source": "any", "group_by": "service", "lookback": 86400, "service": ""},
            7,
            op="<",
            threshold=-1,
        ),
        make(
            "metric",
            {
                "name": "system.cpu.utilization",
                "agg": "avg",
                "labels": {},
                "group_by": ["host.name"],
                "divide_by": None,
            },
            8,
        ),
        make("heartbeat", {"heartbeat": "bench"}, 9, window_seconds=60, threshold=0),
    ]
    return mix[:PER_PROJECT]


# --- Workers -----------------------------------------------------------------------------------


TELEMETRY_TABLES = ("logs_", "traces_", "metrics_")


def worker(results: str) -> None:
    """One evaluator process: a Celery worker (solo pool) on the broker's queue, as in production,
    measuring each batch it evaluates; its figures go to `results` when it is stopped (SIGTERM)."""
    import django

    django.setup()
    from celery.signals import worker_ready, worker_shutdown
    from django.db import connection

    from apps.alerts import scheduler
    from config.celery import app

    reads: list[float] = []  # the batch's telemetry reads, per evaluation
    lags: list[float] = []
    totals: list[float] = []
    batch_sizes: list[int] = []
    statements = {"telemetry": 0, "evaluator": 0}
    original_measure_batch = scheduler.measure_batch
    original_claims_evaluate = scheduler.claims_evaluate

    def timed_measure_batch(policies: list[Any], now: datetime, known: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_measure_batch(policies, now, known)
        finally:
            reads.extend([(time.perf_counter() - started) / max(1, len(policies))] * len(policies))

    def timed_claims_evaluate(claims: list[Any], now: datetime | None = None) -> Any:
        # The batch task's body claims, then evaluates at the instant it started (its `now`): the
        # lag counts from each slot to that instant, as before, and includes the wait for the ETA.
        started = time.perf_counter()
        done = original_claims_evaluate(claims, now)
        if claims and now is not None:
            batch_sizes.append(len(claims))
            lags.extend((now - claim.slot).total_seconds() for claim in claims if claim.policy_id in done)
            totals.extend([(time.perf_counter() - started) / len(claims)] * len(done))
        return done

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements["telemetry" if any(t in sql for t in TELEMETRY_TABLES) else "evaluator"] += 1
        return execute(sql, params, many, context)

    scheduler.measure_batch = timed_measure_batch  # type: ignore[assignment]
    scheduler.claims_evaluate = timed_claims_evaluate  # type: ignore[assignment]
    connection.execute_wrappers.append(count)  # the solo pool runs every task in this thread

    @worker_ready.connect
    def ready(**kwargs: Any) -> None:
        Path(results).with_suffix(".ready").touch()

    @worker_shutdown.connect
    def stopped(**kwargs: Any) -> None:
        figures = {
            "lags": lags,
            "statements": statements,
            "measure": reads,
            "total": totals,
            "batch_sizes": batch_sizes,
        }
        Path(results).write_text(json.dumps(figures))

    name = f"--hostname=bench-alerts-{os.getpid()}@%h"
    app.worker_main(
        ["worker", "--pool=solo", "--loglevel=WARNING", "--without-gossip", "--without-mingle", name]
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def beat(seconds: float, stop: threading.Event) -> None:
    """Beat's `alerts-tick` entry: the tick's message every TICK, expiring after TICK."""
    from apps.alerts import tasks

    deadline = time.monotonic() + seconds
    next_at = time.monotonic()
    while next_at < deadline and not stop.is_set():
        tasks.tick.apply_async(expires=TICK)
        next_at += TICK
        stop.wait(max(0.0, next_at - time.monotonic()))


# --- Notifications: a webhook receiver and a notifier process --------------------------------


class Receiver:
    """A webhook endpoint on 127.0.0.1: the time each project's first firing notice arrived."""

    def __init__(self) -> None:
        self.firing: dict[int, float] = {}
        self.lock = threading.Lock()
        self.webhook = WebhookReceiver(self.record)
        self.url = self.webhook.url

    def record(self, headers: Mapping[str, str], raw: bytes) -> None:
        body = json.loads(raw)
        arrived = time.time()
        if body.get("type") == "alert.firing":
            with self.lock:
                self.firing.setdefault(int(body["data"]["project"]["id"]), arrived)


def notify_setup(url: str, project_ids: list[int]) -> None:
    """A webhook channel in each canary's organization, routed the canary rule (P1: no group_wait)."""
    from apps.alerts.models import Policy
    from apps.notifications.channels import channel_create, route_create
    from apps.projects.models import Organization

    canaries = Policy.objects.filter(project_id__in=project_ids, name="log_count 0").select_related("project")
    channels: dict[int, Any] = {}
    for policy in canaries:
        organization_id = policy.project.organization_id
        if organization_id not in channels:
            organization = Organization.objects.get(pk=organization_id)
            fields = {"name": "bench receiver", "kind": "webhook", "config": {"url": url}}
            channels[organization_id] = channel_create(organization, fields, None)
        route_create(
            policy.project.organization, {"channel": channels[organization_id], "policy": policy}, None
        )


def notifier(seconds: float) -> None:
    """The notification tasks as beat runs them: every NOTIFY_TICK the dispatch task's body
    (transitions -> routed, grouped deliveries), then at once the send task's body, which the
    dispatch task enqueues on commit when it made something (the broker hop is left out)."""
    import django

    django.setup()
    from apps.notifications import dispatch, sender

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        dispatch.transitions_dispatch()
        dispatch.groups_flush()
        sender.send_due()
        time.sleep(max(0.0, NOTIFY_TICK - (time.monotonic() - started)))


# --- The run -----------------------------------------------------------------------------------


def canaries(keys: dict[int, str], seconds: float) -> list[tuple[int, float]]:
    """At random moments, 60 error logs to each canary project through the ingest endpoint; (project,
    epoch seconds of the ingest answer)."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    moments = sorted(random.uniform(5, seconds - 75) for _ in keys)
    started = time.monotonic()
    sent = []
    for (project_id, key), moment in zip(keys.items(), moments, strict=True):
        time.sleep(max(0.0, started + moment - time.monotonic()))
        now = datetime.now(UTC)
        body = [{"timestamp": now.isoformat(), "level": "error", "message": "boom", "service": "api"}] * 60
        response = client.post(
            "/api/v1/ingest/logs",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert response.status_code == 200, response.content
        sent.append((project_id, time.time()))
    return sent


def run(
    loaded: dict[str, Any], processes: list[subprocess.Popen[bytes]], outputs: list[Path]
) -> tuple[list[dict[str, Any]], list[tuple[int, float]]]:
    """Beat's ticks to the evaluators for SECONDS, the canaries meanwhile; their figures."""
    from django.db import connection

    deadline = time.monotonic() + 120
    while not all(output.with_suffix(".ready").exists() for output in outputs):
        assert time.monotonic() < deadline and all(p.poll() is None for p in processes), "a worker failed"
        time.sleep(0.2)
    with connection.cursor() as cursor:
        # Slots spread evenly over the coming minute, from now: loading took its time.
        cursor.execute(
            "UPDATE alerts_policy SET next_due_at = now() + interval '2 seconds'"
            " + (row_number * 60.0 / %s) * interval '1 second'"
            " FROM (SELECT id AS pid, row_number() OVER (ORDER BY random()) FROM alerts_policy) slots"
            " WHERE id = pid",
            [PROJECTS * PER_PROJECT],
        )
    connection.close()
    cpu_start = [cpu_seconds(p.pid) for p in processes]
    wall_start = time.monotonic()
    stop = threading.Event()
    ticking = threading.Thread(target=beat, args=(SECONDS, stop))
    ticking.start()
    sent = canaries(loaded["keys"], SECONDS)
    time.sleep(max(0.0, wall_start + SECONDS - time.monotonic()))
    stop.set()
    ticking.join()
    wall = time.monotonic() - wall_start
    cpu = [cpu_seconds(p.pid) - start for p, start in zip(processes, cpu_start, strict=True)]
    for process in processes:
        process.terminate()  # Celery's warm shutdown: the task at hand finishes, then the figures
    for process in processes:
        process.wait(60)
    results = [
        {**json.loads(output.read_text()), "cpu": used, "wall": wall}
        for output, used in zip(outputs, cpu, strict=True)
    ]
    return results, sent


def inner() -> None:
    import django

    django.setup()

    from apps.alerts.models import Transition

    loaded = load()
    receiver = Receiver()
    notify_setup(receiver.url, list(loaded["keys"]))
    load_before = os.getloadavg()
    broker = redis.Redis.from_url(os.environ["REDIS_URL"])
    broker.flushdb()  # no message of an earlier run
    # Started with the evaluators (its own start-up is not notification latency either); it
    # runs on past their end by NOTIFY_GRACE plus a margin for the start-ups.
    notifying = subprocess.Popen(
        [sys.executable, __file__, "--notifier", str(SECONDS + NOTIFY_GRACE + 30)], cwd=ROOT
    )
    # The evaluators start first (importing Django takes seconds on a busy machine) and wait for
    # the first tick; the lag then measures evaluation, not process start-up, as with
    # long-running Celery workers.
    outputs = [ROOT / "var" / "bench" / f"alerts-worker-{n}.json" for n in range(WORKERS)]
    for output in outputs:
        output.unlink(missing_ok=True)
        output.with_suffix(".ready").unlink(missing_ok=True)
    # Their logs (Celery's, one line per task) to a file each, as a deployment's log shipper takes them.
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", str(output)],
            cwd=ROOT,
            stdout=output.with_suffix(".log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for output in outputs
    ]
    try:
        results, sent = run(loaded, processes, outputs)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    notifying.wait()
    load_after = os.getloadavg()
    firing = {
        t.policy.project_id: t.at.timestamp()
        for t in Transition.objects.filter(to_state="firing", policy__name="log_count 0").select_related(
            "policy"
        )
    }
    report(loaded, results, sent, firing, dict(receiver.firing), load_before, load_after)


def report(
    loaded: dict[str, Any],
    results: list[dict[str, Any]],
    sent: list[tuple[int, float]],
    firing: dict[int, float],
    received: dict[int, float],
    load_before: tuple[float, ...],
    load_after: tuple[float, ...],
) -> None:
    lags = [lag for r in results for lag in r["lags"]]
    evaluations = len(lags)
    wall = max(r["wall"] for r in results)
    cpu = sum(r["cpu"] for r in results)
    measure = [m for r in results for m in r["measure"]]
    total = [t for r in results for t in r["total"]]
    breach = [firing[p] - at for p, at in sent if p in firing]
    notified = [received[p] - at for p, at in sent if p in received]
    telemetry = sum(r["statements"]["telemetry"] for r in results) / max(1, evaluations)
    bookkeeping = sum(r["statements"]["evaluator"] for r in results) / max(1, evaluations)
    sizes = [size for r in results for size in r["batch_sizes"]]
    policies = PROJECTS * PER_PROJECT
    logs, spans, points = (PROJECTS * MINUTES * n for n in (LOGS_PER_MINUTE, max(1, LOGS_PER_MINUTE // 5), 6))
    lag50, lag99 = percentile(lags, 0.5), percentile(lags, 0.99)
    breach50, breach95 = percentile(breach, 0.5), percentile(breach, 0.95)
    read_ms, total_ms = 1000 * statistics.mean(measure), 1000 * statistics.mean(total)
    lines = [
        "# Alert evaluation benchmark (`make bench-alerts`)",
        "",
        f"Machine: {os.cpu_count()} cores, shared. {PROJECTS:,} projects, {policies:,} enabled policies"
        f" (interval 60 s), telemetry of the last {MINUTES} min ({logs:,} log rows, {spans:,} spans,"
        f" {points:,} points), loaded in {loaded['seconds']:.0f} s. Production's path for"
        f" {SECONDS:.0f} s: beat's tick every {TICK:.0f} s plans the batch tasks, {WORKERS} Celery"
        " workers (solo pool) run them (see bench/alerts.py).",
        "",
        "| figure | value | target |",
        "| --- | ---: | --- |",
        f"| evaluations/s (at most the due rate: see the lag for whether it kept up) |"
        f" {evaluations / wall:,.0f} | ≥ {policies / 60:,.0f} (each policy once a minute) |",
        f"| evaluator CPU, share of one core ({WORKERS} processes) | {100 * cpu / wall:.0f} % | ≤ 50 % |",
        f"| lag due → evaluated, p50 / p99 | {lag50:.2f} s / {lag99:.2f} s | p99 < {TARGET_LAG_P99:.0f} s |",
        f"| SQL statements per evaluation: telemetry reads + claim/load/write | {telemetry:.2f} +"
        f" {bookkeeping:.2f} | — |",
        f"| breach → firing, p50 / p95 ({len(breach)} of {len(sent)} canaries fired) |"
        f" {breach50:.1f} s / {breach95:.1f} s | ≤ 70 s (interval + 10 s) |",
        f"| breach → webhook received, P1 (group_wait 0), p50 / p95 ({len(notified)} of {len(sent)}) |"
        f" {percentile(notified, 0.5):.1f} s / {percentile(notified, 0.95):.1f} s |"
        " ≤ 75 s (interval + 15 s) |",
        "",
        "Where the time goes (wall time per evaluation, mean): reading telemetry (the batch's grouped"
        f" reads, apps.alerts.reads) {read_ms:.1f} ms of {total_ms:.1f} ms; the rest is the batch's share"
        " of claiming (one UPDATE), loading policies and instances, and the one write transaction per"
        f" batch. Batches of {statistics.mean(sizes) if sizes else 0:.1f} slots on average ({len(sizes)}"
        " batches; at most 50): the tick plans each batch task to run once 50 of its slots are due or"
        " 1 s after its first (apps.alerts.scheduler.batches_plan), so the lag is mostly that wait."
        " Evaluator CPU is the Celery worker processes' own (Celery and the broker client included);"
        " PostgreSQL's and Redis' are not in it.",
        "",
        "How it grows. With policies: linearly, in batches. A batch of up to 50 due slots costs a fixed"
        " handful of statements (claim; load policies and instances; one write transaction: release the"
        " slots, lock and update the instances with one UPDATE over arrays, multi-row INSERTs of new"
        " instances, incidents and transitions) plus its telemetry reads, grouped (apps.alerts.reads):"
        " one statement per kind of read (log counts, span statistics, services seen) and window for all"
        " the batch's projects, three per metric policy (watermark, series, values), and new_pattern"
        " baselines one by one. With one-minute intervals the evaluator needs (policies / 60) x (ms per"
        " evaluation) of worker time per second. With data: log and span reads scan each project's"
        " window once through the (project_id, ts) indexes however many of its policies count it, so"
        " they grow with the rows in the windows (a 5-minute window of a project sending 1,000 logs/s is"
        " 300,000 rows, read once per batch it appears in); metric policies read 1-minute rollups"
        " (window minutes x series) plus the raw tail after the rollup watermark; heartbeats read"
        " nothing beyond their policy row.",
        "",
        f"Load average before/after: {' '.join(f'{v:.2f}' for v in load_before)} /"
        f" {' '.join(f'{v:.2f}' for v in load_after)}.",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--notifier":
        notifier(float(sys.argv[2]))
        return
    servers.recreate_database(DATABASE)
    inner()


if __name__ == "__main__":
    main()
