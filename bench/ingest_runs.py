"""The pieces of `make bench-ingest` (see bench/ingest.py).

One runner for every scenario; the transport is a parameter of the scenario (`SCENARIOS`): HTTP
scenarios are served by uvicorn workers and loaded by wrk, the gRPC one by `manage.py otlp_grpc`
workers and loaded by bench/ingest_grpc.py. Both kinds of server run one process per core on one
SO_REUSEPORT port, and both load clients are their own process printing the same BENCH_JSON line.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
RECORDS = 1000
ROUNDS = 3  # adjacent (raw COPY, endpoint) pairs per scenario
PROFILED_FILES = {
    "views.py",
    "services.py",
    "otlp.py",
    "otlp_decode.py",
    "native.py",
    "cleaning.py",
    "redaction.py",
    "writer.py",
    "body.py",
    "ratelimit.py",
    "authentication.py",
    "live.py",
    "partitions.py",
    "storage.py",
    "copy.py",
    "batch.py",
    "records.py",
    "quota.py",
    "_copy.py",
    "cursor.py",
    "client.py",
    "connection.py",
    "transaction.py",
    "redis.py",
}
SERVICES = ["checkout", "cart", "search", "auth"]
PROTOBUF, JSON = "application/x-protobuf", "application/json"


@dataclass(frozen=True)
class Scenario:
    transport: str  # "http" (uvicorn, wrk) or "grpc" (manage.py otlp_grpc, bench/ingest_grpc.py)
    path: str  # the URL path, or the gRPC method
    content_type: str = PROTOBUF  # (HTTP only, as the encoding)
    content_encoding: str = ""


# Each body (run_all) is sent as it is by its scenario of the same name; the gRPC scenario sends
# the OTLP protobuf logs body, so it compares with OTLP/HTTP protobuf on the same records.
SCENARIOS = {
    "otlp_logs": Scenario("http", "/v1/logs"),
    "native_logs": Scenario("http", "/api/v1/ingest/logs", JSON),
    "otlp_metrics": Scenario("http", "/v1/metrics"),
    "prom_write": Scenario("http", "/api/v1/prom/write", content_encoding="snappy"),
    "grpc_logs": Scenario("grpc", "/opentelemetry.proto.collector.logs.v1.LogsService/Export"),
}
WORDS = "user order payment request cache database timeout retry completed failed started item".split()


# --- data -----------------------------------------------------------------------------------
def create_tenant() -> tuple[int, str]:
    from apps.accounts.models import User
    from apps.audit import Actor
    from apps.projects.models import KeyScope, Membership, Organization, Project, Role
    from apps.projects.services import api_key_create

    organization = Organization.objects.create(name="Bench")
    user = User.objects.create_user("bench@example.test", "bench-password-123")
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    project = Project.objects.create(organization=organization, name="bench")
    _, secret = api_key_create(project, KeyScope.INGEST, "bench", by=Actor(user=user))
    return project.id, secret


def log_records(rng: random.Random) -> list[dict[str, Any]]:
    now = time.time_ns()
    return [
        {
            "ts": now - i * 1_000_000,
            "level": rng.choice([5, 9, 9, 9, 13, 17]),
            "message": " ".join(rng.choice(WORDS) for _ in range(12)) + f" id={rng.randrange(10**6)}",
            "trace_id": rng.randbytes(16),
            "span_id": rng.randbytes(8),
            "attributes": {
                "http.route": f"/api/{rng.choice(WORDS)}",
                "http.status_code": rng.choice([200, 500]),
                "user.id": rng.randrange(10**5),
                "duration_ms": round(rng.random() * 100, 3),
            },
        }
        for i in range(RECORDS)
    ]


def otlp_logs_body(records: list[dict[str, Any]]) -> bytes:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    for key, value in {
        "service.name": "checkout",
        "host.name": "web-1",
        "deployment.environment": "prod",
    }.items():
        resource_logs.resource.attributes.add(key=key).value.string_value = value
    scope = resource_logs.scope_logs.add()
    scope.scope.name = "app"
    for record in records:
        log = scope.log_records.add(
            time_unix_nano=record["ts"],
            severity_number=record["level"],
            trace_id=record["trace_id"],
            span_id=record["span_id"],
        )
        log.body.string_value = record["message"]
        for key, value in record["attributes"].items():
            attribute = log.attributes.add(key=key)
            if isinstance(value, str):
                attribute.value.string_value = value
            elif isinstance(value, int):
                attribute.value.int_value = value
            else:
                attribute.value.double_value = value
    return request.SerializeToString()


def native_logs_body(records: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(
        [
            {
                "timestamp": record["ts"],
                "level": record["level"],
                "message": record["message"],
                "service": "checkout",
                "trace_id": record["trace_id"].hex(),
                "span_id": record["span_id"].hex(),
                "attributes": record["attributes"],
            }
            for record in records
        ]
    )


def otlp_metrics_body(rng: random.Random) -> bytes:
    """1,000 data points: 100 series of a cumulative counter and a gauge, 5 points each."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.add(key="service.name").value.string_value = "checkout"
    scope = resource_metrics.scope_metrics.add()
    now = time.time_ns()
    counter = scope.metrics.add(name="http.server.requests")
    counter.sum.aggregation_temporality = 2
    counter.sum.is_monotonic = True
    gauge = scope.metrics.add(name="process.memory")
    for series in range(100):
        for step in range(5):
            for data, value in (
                (counter.sum, {"as_int": series * 10 + step}),
                (gauge.gauge, {"as_double": rng.random() * 1e9}),
            ):
                point = data.data_points.add(time_unix_nano=now - step * 10**9, **value)
                point.attributes.add(key="instance").value.string_value = f"web-{series}"
                point.attributes.add(key="route").value.string_value = f"/api/{WORDS[series % len(WORDS)]}"
    return request.SerializeToString()


def remote_write_body(series: int = 100, scrapes: int = 10) -> bytes:
    """A snappy WriteRequest of 1,000 samples (100 series x 10 scrapes)."""
    import cramjam

    from apps.ingestion.promwrite import MESSAGES

    request = MESSAGES["WriteRequest"]()
    now_ms = int(time.time() * 1000)
    for index in range(series):
        timeseries = request.timeseries.add()
        timeseries.labels.add(name="__name__", value="node_cpu_seconds_total" if index % 2 else "node_load1")
        timeseries.labels.add(name="instance", value=f"host-{index // 8}:9100")
        timeseries.labels.add(name="job", value="node")
        timeseries.labels.add(name="cpu", value=str(index % 8))
        for scrape in range(scrapes):
            timeseries.samples.add(
                value=float(index * 100 + scrape), timestamp=now_ms - (scrapes - scrape) * 15_000
            )
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


# --- server ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Servers:
    """`workers` server processes on one port, bound with SO_REUSEPORT so that the kernel spreads
    connections over them: uvicorn (bench/ingest_serve.py) for "http", `manage.py otlp_grpc
    --reuse-port` for "grpc"."""

    def __init__(
        self,
        workers: int,
        transport: str = "http",
        app: str = "config.asgi:application",
        env: dict[str, str] | None = None,
    ) -> None:
        port = free_port()
        env = {**os.environ, "DATABASE_POOL": "true", **(env or {})}  # as `make run` serves: pooled
        if transport == "grpc":
            command = ["manage.py", "otlp_grpc", "--host", "127.0.0.1", "--port", str(port), "--reuse-port"]
        else:
            command = [str(ROOT / "bench" / "ingest_serve.py"), str(port), app]
        self.processes = [
            subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env) for _ in range(workers)
        ]
        self.address = f"127.0.0.1:{port}"
        self.url = f"http://{self.address}"
        self.pids = [process.pid for process in self.processes]
        time.sleep(2)  # (each worker imports Django: the first to listen is not the last)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the {transport} server did not start")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process alive now (backends of both the endpoint and COPY)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # exited meanwhile
    return total


def machine_busy_ticks() -> tuple[int, int]:
    """(all CPU ticks, idle + iowait ticks) of the machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values), values[3] + values[4]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- load -----------------------------------------------------------------------------------
def load(servers: Servers, scenario: Scenario, body: Path, key: str, duration: int, connections: int) -> dict:
    """`connections` requests in flight replaying `body` for `duration` seconds, from a client
    process of the scenario's transport (wrk, or bench/ingest_grpc.py): its BENCH_JSON summary
    with records/s."""
    if scenario.transport == "grpc":
        client = str(ROOT / "bench" / "ingest_grpc.py")
        command = [sys.executable, client, servers.address, scenario.path, str(body), key, str(duration)]
        command.append(str(connections))
        env = dict(os.environ)
    else:
        script = str(ROOT / "bench" / "ingest_post.lua")
        command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", script]
        command.append(servers.url)
        env = {
            **os.environ,
            "BENCH_BODY": str(body),
            "BENCH_PATH": scenario.path,
            "BENCH_CONTENT_TYPE": scenario.content_type,
            "BENCH_CONTENT_ENCODING": scenario.content_encoding,
            "BENCH_KEY": key,
        }
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("BENCH_JSON "))
    result = json.loads(line.removeprefix("BENCH_JSON "))
    ok = result["requests"] - result["non2xx"] - result["errors"]
    result["events_per_s"] = ok * RECORDS / result["seconds"]
    result["requests_per_s"] = result["requests"] / result["seconds"]
    return result


def paced(url: str, path: str, body: bytes, content_type: str, key: str, rate: float, seconds: int) -> dict:
    """Open-loop-ish client at a fixed request rate; latency of each request. Also when in the
    phase its slowest hundredth came (seconds from the start), and what PostgreSQL did meanwhile
    (database_activity): a tail at the start is a cold start, one spread over the phase with
    checkpoints or backend writes in it is the database's."""
    latencies: list[float] = []
    sent_at: list[float] = []
    statuses: Counter[int] = Counter()
    threads = 8
    start = time.monotonic() + 0.5
    total = int(rate * seconds)
    headers = {"content-type": content_type, "authorization": f"Bearer {key}"}

    def run(index: int) -> None:
        with httpx.Client(timeout=30) as client:
            for n in range(index, total, threads):
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sent = time.perf_counter()
                response = client.post(url + path, content=body, headers=headers)
                latencies.append((time.perf_counter() - sent) * 1000)
                sent_at.append(time.monotonic() - start)
                statuses[response.status_code] += 1

    activity = database_activity()
    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    quantiles = statistics.quantiles(latencies, n=100)
    slowest = sorted(zip(latencies, sent_at, strict=True), reverse=True)[: max(1, len(latencies) // 100)]
    return {
        "rate": rate,
        "p50_ms": quantiles[49],
        "p99_ms": quantiles[98],
        "statuses": dict(statuses),
        "slowest_at_s": sorted(round(at, 1) for _, at in slowest),
        "database": database_activity(activity),
    }


def database_activity(since: dict[str, float] | None = None) -> dict[str, float]:
    """WAL written (MB), checkpoints started and buffers written by client backends themselves
    (when the background writer falls behind): totals, or the difference from `since`. Empty
    before PostgreSQL 17 (no pg_stat_checkpointer)."""
    import psycopg

    from bench.ingest import DATABASE_URL

    try:
        with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
            row = connection.execute(
                "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn) / 1048576.0,"
                " (SELECT num_timed + num_requested FROM pg_stat_checkpointer),"
                " (SELECT coalesce(sum(writes), 0) FROM pg_stat_io WHERE backend_type = 'client backend')"
            ).fetchone()
    except psycopg.Error:
        return {}
    assert row is not None
    now = {"wal_mb": float(row[0]), "checkpoints": float(row[1]), "backend_writes": float(row[2])}
    if since is None:
        return now
    return {name: round(now[name] - since[name], 1) for name in now} if since else {}


def profile(
    pid: int, seconds: int, output: Path, keep: Callable[[str], bool] | None = None, limit: int = 30
) -> list[tuple[str, float]]:
    """py-spy raw samples of one worker → share of samples per function (inclusive), top first;
    by default Vigil's own functions and the libraries they call (`keep` chooses otherwise)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    done = subprocess.run(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
            "--gil",  # only the thread holding the GIL: where the worker's Python CPU goes
            "--rate",
            "200",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not output.exists():
        return [("py-spy unavailable: " + done.stderr.strip()[-200:], 0.0)]
    inclusive: Counter[str] = Counter()
    total = 0
    for line in output.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        # "function (path/to/file.py:123)" -> "function (file.py)"; each function once per sample.
        frames = {re.sub(r"\((?:.*/)?([^/:]+):\d+\)", r"(\1)", frame) for frame in stack.split(";")}
        for frame in frames:
            inclusive[frame] += int(count)
    # Keep Vigil's own functions and the libraries they call; drop thread and event-loop plumbing.
    kept = keep or (lambda frame: frame.rsplit("(", 1)[-1].rstrip(")") in PROFILED_FILES)
    shares = [(frame, 100 * samples / max(1, total)) for frame, samples in inclusive.most_common()]
    return [(frame, share) for frame, share in shares if kept(frame)][:limit]


# --- raw COPY ceiling -------------------------------------------------------------------------
def _copy_worker(args: tuple[str, str, list[str], list[tuple[Any, ...]], float, Any]) -> None:
    import psycopg

    from apps.storage.copy import PreEncodedJsonbDumper

    url, statement, types, rows, until, counter = args
    done = 0
    with psycopg.connect(url) as connection:
        connection.adapters.register_dumper(None, PreEncodedJsonbDumper)
        while time.monotonic() < until:
            with connection.transaction(), connection.cursor() as cursor, cursor.copy(statement) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            done += len(rows)
    with counter.get_lock():
        counter.value += done


def raw_copy(
    statement: str, types: list[str], rows: list[tuple[Any, ...]], seconds: int, processes: int = 2
) -> float:
    from bench.ingest import DATABASE_URL

    counter = multiprocessing.Value("q", 0)
    until = time.monotonic() + seconds
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_copy_worker, args=((DATABASE_URL, statement, types, rows, until, counter),))
        for _ in range(processes)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if any(worker.exitcode for worker in workers):
        raise RuntimeError("a raw COPY process failed; see its traceback above")
    return counter.value / (time.monotonic() - started)


def decoded_prom_points(project_id: int, body: bytes) -> list:
    """The point rows the endpoint writes for a remote-write body (series created once)."""
    from django.db import connection

    from apps.ingestion import promwrite, writer
    from apps.ingestion.cleaning import Cleaner
    from apps.ingestion.redaction import Redactor
    from apps.metrics import storage as metric_storage

    message = promwrite.parse(promwrite.decompress(body, 50 * 1024 * 1024))
    batch = promwrite.decode(project_id, message, Cleaner(Redactor()))
    writer.write_batch(project_id, batch)
    ids = {h: metric_storage._series_ids[(project_id, h)] for h in batch.series}
    connection.close()
    return [(row[0], ids[row[1]], *row[2:]) for row in batch.points]


def decoded_rows(project_id: int, logs_body: bytes, metrics_body: bytes) -> tuple[list, list]:
    """The exact rows the endpoint writes for these bodies (series resolved once for metrics)."""
    from django.db import connection

    from apps.ingestion import otlp, otlp_decode, writer
    from apps.ingestion.cleaning import Cleaner
    from apps.ingestion.redaction import Redactor
    from apps.metrics import storage as metric_storage

    logs = otlp_decode.decode_logs(
        project_id, otlp.parse_request("logs", logs_body, otlp.PROTOBUF)[0], Cleaner(Redactor())
    )
    metrics = otlp_decode.decode_metrics(
        project_id, otlp.parse_request("metrics", metrics_body, otlp.PROTOBUF)[0], Cleaner(Redactor())
    )
    writer.write_batch(project_id, metrics)  # creates the series and the metric partitions
    writer._ensure_partitions(logs)  # raw COPY has no on-demand partition creation
    ids = {h: metric_storage._series_ids[(project_id, h)] for h in metrics.series}
    points = [(row[0], ids[row[1]], *row[2:]) for row in metrics.points]
    connection.close()
    return logs.logs, points


def _measured(pids: list[int], run_load: Callable[[], dict]) -> dict[str, Any]:
    """One load run (wrk or the gRPC client), with the CPU of the workers (`pids`) and of
    PostgreSQL and how busy the machine was."""
    before, started = [cpu_seconds(pid) for pid in pids], time.monotonic()
    postgres_before, ticks_before = postgres_cpu_seconds(), machine_busy_ticks()
    run = run_load()
    elapsed = time.monotonic() - started
    run["worker_cpu"] = [
        round(100 * (cpu_seconds(pid) - b) / elapsed) for pid, b in zip(pids, before, strict=True)
    ]
    run["postgres_cpu"] = round(100 * (postgres_cpu_seconds() - postgres_before) / elapsed)
    all_ticks, idle_ticks = (a - b for a, b in zip(machine_busy_ticks(), ticks_before, strict=True))
    run["machine_busy"] = round(100 * (1 - idle_ticks / all_ticks)) if all_ticks else 0
    return run


def empty_tables() -> None:
    """Drop the rows of earlier phases (partitions and metric series stay) and checkpoint."""
    import psycopg

    from bench.ingest import DATABASE_URL

    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        connection.execute("TRUNCATE logs_event, metrics_point")
        connection.execute("CHECKPOINT")


# --- orchestration ----------------------------------------------------------------------------
def run_all(duration: int, connections: int, names: list[str] | None = None) -> dict[str, Any]:
    """Every scenario, the calibration endpoint, the profile and the metering; or, with `names`,
    only those scenarios' rounds and half-rate phases (a quick check of a change: `summary`)."""
    from apps.logs import storage as log_storage
    from apps.metrics import storage as metric_storage

    rng = random.Random(42)
    project_id, key = create_tenant()
    records = log_records(rng)
    bodies = {
        "otlp_logs": otlp_logs_body(records),
        "native_logs": native_logs_body(records),
        "otlp_metrics": otlp_metrics_body(rng),
        "prom_write": remote_write_body(),
    }
    bodies["grpc_logs"] = bodies["otlp_logs"]  # the same ExportLogsServiceRequest, over gRPC
    tmp = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    for name, body in bodies.items():
        (tmp / name).write_bytes(body)
    log_rows, point_rows = decoded_rows(project_id, bodies["otlp_logs"], bodies["otlp_metrics"])
    prom_rows = decoded_prom_points(project_id, bodies["prom_write"])
    workers = os.cpu_count() or 2
    results: dict[str, Any] = {"workers": workers, "body_bytes": {k: len(v) for k, v in bodies.items()}}
    # The COPY ceilings are measured right before the endpoint runs they are compared with, so
    # both see the same machine (this box is shared; other load comes and goes).
    copies = {
        "otlp_logs": lambda seconds: raw_copy(log_storage.COPY, log_storage.TYPES, log_rows, seconds),
        "native_logs": lambda seconds: raw_copy(log_storage.COPY, log_storage.TYPES, log_rows, seconds),
        "otlp_metrics": lambda seconds: raw_copy(
            metric_storage.POINT_COPY, metric_storage.POINT_TYPES, point_rows, seconds
        ),
        "grpc_logs": lambda seconds: raw_copy(log_storage.COPY, log_storage.TYPES, log_rows, seconds),
        "prom_write": lambda seconds: raw_copy(
            metric_storage.POINT_COPY, metric_storage.POINT_TYPES, prom_rows, seconds
        ),
    }
    results["load_average_before"] = os.getloadavg()
    # Spike protection on for the bench project, with an allowance no run reaches (bench/metering.py).
    from bench import metering

    metering.allow_everything(project_id)
    if names is None:
        results["bare_native_logs"] = bare_endpoint(project_id, workers, tmp, duration, connections)
    transports = {SCENARIOS[name].transport for name in names or SCENARIOS}
    servers = {transport: Servers(workers, transport) for transport in sorted(transports)}
    try:
        results.update(_load(servers, key, tmp, duration, connections, bodies, copies, names))
    finally:
        for server in servers.values():
            server.stop()
    results["load_average_after"] = os.getloadavg()
    if names is not None:
        return results
    # The metering's own worker CPU per request, measured alone (the servers are stopped).
    results["metering"] = metering.measure(*metering.tenant_ids((project_id, key)), calls=5000)
    return results


def bare_endpoint(project_id: int, workers: int, tmp: Path, duration: int, connections: int) -> dict:
    """The calibration endpoint (bench/ingest_bare.py) under the native JSON load."""
    empty_tables()
    bare = Servers(workers, app="bench.ingest_bare:app", env={"BENCH_PROJECT_ID": str(project_id)})
    try:
        native = partial(load, bare, SCENARIOS["native_logs"], tmp / "native_logs", "-")
        native(3, connections)
        empty_tables()
        result = native(duration, connections)
    finally:
        bare.stop()
    return result


def _load(
    servers: dict[str, Servers],
    key: str,
    tmp: Path,
    duration: int,
    connections: int,
    bodies: dict[str, bytes],
    copies: dict[str, Any],
    names: list[str] | None = None,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    seconds = max(5, duration // 2)
    for name in names or SCENARIOS:
        scenario = SCENARIOS[name]
        server = servers[scenario.transport]
        run_for = partial(load, server, scenario, tmp / name, key, connections=connections)
        run_for(3)  # warm-up: connections, caches
        # This machine's speed drifts by ±15 % between half-minute runs, so COPY and endpoint are
        # measured in ROUNDS adjacent pairs and the ratio is taken per pair. Each phase starts from
        # the same tables: empty, checkpointed (else the endpoint would write into indexes the COPY
        # phase just grew by a million rows).
        rounds = []
        for _ in range(ROUNDS):
            empty_tables()
            copy_rate = copies[name](seconds)
            empty_tables()
            run = _measured(server.pids, partial(run_for, seconds))
            rounds.append({**run, "copy": copy_rate, "ratio": run["events_per_s"] / copy_rate})
        by_rate = sorted(rounds, key=lambda run: run["events_per_s"])
        results[name] = {
            **by_rate[ROUNDS // 2],
            "ratio_median": statistics.median(run["ratio"] for run in rounds),
            "rounds": [(run["events_per_s"], run["copy"], run["ratio"]) for run in rounds],
        }
        results[f"copy_{name}"] = statistics.median(run["copy"] for run in rounds)
    if "http" not in servers:
        return results
    http = servers["http"]
    results["rss_mb"] = [rss_mb(pid) for pid in http.pids]
    for name in ("otlp_logs", "native_logs"):
        if name not in (names or SCENARIOS):
            continue
        scenario = SCENARIOS[name]
        half = results[name]["requests_per_s"] / 2
        at_half_rate = partial(paced, http.url, scenario.path, bodies[name], scenario.content_type, key, half)
        # Each from the same state, as every load round: emptied, checkpointed tables (else the
        # second scenario ran on the WAL the first wrote, into the checkpoint it triggered), and
        # after a warm-up at that rate (new connections, the project's cached settings).
        empty_tables()
        at_half_rate(3)
        results[f"half_rate_{name}"] = at_half_rate(duration)
    if names is not None:
        return results
    worker = http.pids[0]
    profiler = threading.Thread(
        target=lambda: results.__setitem__(
            "profile", profile(worker, max(5, duration // 2), tmp / "profile.txt")
        )
    )
    profiler.start()
    load(http, SCENARIOS["otlp_logs"], tmp / "otlp_logs", key, max(5, duration // 2) + 1, connections)
    profiler.join()
    return results


def summary(results: dict[str, Any], names: list[str]) -> str:
    """A few lines for a run of some scenarios (BENCH_SCENARIOS): per record, the workers' and
    PostgreSQL's CPU, which move far less with other load on the machine than records/s do."""
    lines = [
        "| scenario | events/s | ratio to raw COPY | worker CPU µs/record | PostgreSQL CPU µs/record |"
        " half-rate p50 / p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in names:
        run, half = results[name], results.get(f"half_rate_{name}")
        per_record = 1e6 / run["events_per_s"] / 100 if run["events_per_s"] else 0.0
        latency = f"{half['p50_ms']:.0f} / {half['p99_ms']:.0f}" if half else "—"
        lines.append(
            f"| {name} | {run['events_per_s']:,.0f} | {run['ratio_median']:.3f} | "
            f"{sum(run['worker_cpu']) * per_record:.1f} | {run['postgres_cpu'] * per_record:.1f} | "
            f"{latency} |"
        )
    before, after = (
        " ".join(f"{x:.2f}" for x in results[key]) for key in ("load_average_before", "load_average_after")
    )
    lines.append(f"\nLoad average before/after: {before} / {after} (not written to INGEST_RESULTS.md).")
    return "\n".join(lines)


def render(results: dict[str, Any], duration: int, connections: int, elapsed: float) -> str:
    from bench.ingest_report import render as render_report

    return render_report(results, duration, connections, elapsed)
