"""The gRPC load client of `make bench-ingest`: what wrk + bench/ingest_post.lua are for HTTP.

Run as its own process by bench/ingest_runs.py (`python bench/ingest_grpc.py ADDRESS METHOD BODY
KEY SECONDS CONCURRENCY`): `CONCURRENCY` callers, each on a connection of its own as wrk's
connections are (one shared HTTP/2 connection would land every call on the one receiver process
the kernel gave it), sending the prepared request bytes as they are (no serializer), and the same
BENCH_JSON line as the wrk script. No ghz in Debian or PyPI; a Python client is fine here
because it only waits: the server's work is what is measured.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any


async def _drive(
    address: str, method: str, body: bytes, key: str, seconds: int, concurrency: int
) -> dict[str, Any]:
    import grpc

    latencies: list[float] = []
    failures = 0
    metadata = (("authorization", f"Bearer {key}"),)
    # A local subchannel pool per channel: channels to one address otherwise share a connection.
    channels = [
        grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(concurrency)
    ]
    started = time.monotonic()
    deadline = started + seconds

    async def caller(channel: grpc.aio.Channel) -> None:
        nonlocal failures
        export = channel.unary_unary(method)
        while time.monotonic() < deadline:
            sent = time.perf_counter()
            try:
                await export(body, metadata=metadata, timeout=10)
            except grpc.RpcError:
                failures += 1
            latencies.append((time.perf_counter() - sent) * 1000)

    try:
        await asyncio.gather(*(caller(channel) for channel in channels))
        elapsed = time.monotonic() - started
    finally:
        for channel in channels:
            await channel.close()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "requests": len(latencies),
        "non2xx": failures,
        "errors": 0,
        "seconds": elapsed,
        "p50_ms": quantiles[49],
        "p99_ms": quantiles[98],
    }


if __name__ == "__main__":
    address, method, body_path, api_key, duration, in_flight = sys.argv[1:7]
    summary = asyncio.run(
        _drive(address, method, Path(body_path).read_bytes(), api_key, int(duration), int(in_flight))
    )
    print("BENCH_JSON " + json.dumps(summary))
