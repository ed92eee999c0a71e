"""The calibration endpoint of `make bench-ingest`: the least a native JSON endpoint can do.

An ASGI app that reads the body, parses it with orjson, builds the same row tuples as the real
endpoint (no authentication, validation, limits, redaction, quota, rate limit or live announce)
and writes them with psycopg binary COPY in one transaction, from a small thread pool as the
real endpoint does. The issue's reference ("a bare Django view doing orjson + binary COPY reached
about 106,000 records/s here") measured the same idea on its machine; the gap between this and
the real endpoint, on the same machine in the same run, is the price of what the real one checks.
Serve with: uvicorn bench.ingest_bare:app (DATABASE_URL names the database).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
import orjson
import psycopg

# The writer's modules read settings (DRF's error mapping) when imported.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from apps.ingestion.batch import pg_micros  # noqa: E402
from apps.logs.storage import COPY as LOG_COPY  # noqa: E402
from apps.logs.storage import TYPES as LOG_TYPES  # noqa: E402
from apps.storage.copy import PreEncodedJsonbDumper  # noqa: E402

_pool = ThreadPoolExecutor(max_workers=4)
_local = threading.local()
_PROJECT = int(os.environ.get("BENCH_PROJECT_ID", "1"))


def _connection() -> psycopg.Connection[Any]:
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = psycopg.connect(os.environ["DATABASE_URL"])
        connection.adapters.register_dumper(None, PreEncodedJsonbDumper)
    return connection


def _store(body: bytes) -> int:
    now = pg_micros(time.time_ns())
    rows = [
        (
            _PROJECT,
            pg_micros(record["timestamp"]),
            now,
            record["level"],
            record["service"],
            record["trace_id"],
            record["span_id"],
            record["message"],
            b"\x01" + orjson.dumps(record["attributes"]),
            b"\x01{}",
        )
        for record in orjson.loads(body)
    ]
    connection = _connection()
    with connection.transaction(), connection.cursor() as cursor, cursor.copy(LOG_COPY) as copy:
        copy.set_types(LOG_TYPES)
        for row in rows:
            copy.write_row(row)
    return len(rows)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["method"] != "POST":  # the bench's start-up probe
        await send({"type": "http.response.start", "status": 405, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    count = await asyncio.get_running_loop().run_in_executor(_pool, _store, b"".join(chunks))
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": orjson.dumps({"accepted": count})})
