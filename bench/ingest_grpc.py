"""The OTLP/gRPC and remote-write pieces of `make bench-ingest` (bench/ingest_runs.py runs them).

- `GrpcServers`: `workers` receiver processes (`manage.py otlp_grpc --reuse-port`) on one port:
  the kernel spreads connections over them as over the uvicorn workers.
- `grpc_load`: the gRPC counterpart of wrk: this file run as its own process (`python
  bench/ingest_grpc.py ADDRESS BODY KEY SECONDS CONCURRENCY`), `CONCURRENCY` calls in flight on
  one channel, each sending the prepared ExportLogsServiceRequest bytes as they are (no
  serializer), and the same BENCH_JSON line as bench/ingest_post.lua. No ghz in Debian or PyPI;
  a Python client is fine here because it only waits: the server's work is what is measured.
- `remote_write_body`: a snappy WriteRequest of 1,000 samples (100 series x 10 scrapes).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


class GrpcServers:
    def __init__(self, workers: int, port: int, env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "DATABASE_POOL": "true", **(env or {})}  # as `make run` serves: pooled
        command = [
            sys.executable,
            "manage.py",
            "otlp_grpc",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--reuse-port",
        ]
        self.processes = [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(workers)]
        self.address = f"127.0.0.1:{port}"
        self.pids = [process.pid for process in self.processes]
        import socket

        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("otlp_grpc did not start")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


def grpc_load(address: str, body: Path, key: str, seconds: int, concurrency: int, records: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, address, str(body), key, str(seconds), str(concurrency)],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("BENCH_JSON "))
    result = json.loads(line.removeprefix("BENCH_JSON "))
    ok = result["requests"] - result["non2xx"] - result["errors"]
    result["events_per_s"] = ok * records / result["seconds"]
    result["requests_per_s"] = result["requests"] / result["seconds"]
    return result


async def _drive(address: str, body: bytes, key: str, seconds: int, concurrency: int) -> dict[str, Any]:
    import grpc

    latencies: list[float] = []
    failures = 0
    metadata = (("authorization", f"Bearer {key}"),)
    async with grpc.aio.insecure_channel(address) as channel:
        export = channel.unary_unary(LOGS_EXPORT)
        started = time.monotonic()
        deadline = started + seconds

        async def caller() -> None:
            nonlocal failures
            while time.monotonic() < deadline:
                sent = time.perf_counter()
                try:
                    await export(body, metadata=metadata, timeout=10)
                except grpc.RpcError:
                    failures += 1
                latencies.append((time.perf_counter() - sent) * 1000)

        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "requests": len(latencies),
        "non2xx": failures,
        "errors": 0,
        "seconds": elapsed,
        "p50_ms": quantiles[49],
        "p99_ms": quantiles[98],
    }


def remote_write_body(series: int = 100, scrapes: int = 10) -> bytes:
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


if __name__ == "__main__":
    address, body_path, api_key, duration, in_flight = sys.argv[1:6]
    summary = asyncio.run(
        _drive(address, Path(body_path).read_bytes(), api_key, int(duration), int(in_flight))
    )
    print("BENCH_JSON " + json.dumps(summary))
