"""The calibration endpoint of `make bench-errors`: the least a Sentry envelope endpoint can do.

An ASGI app that reads a one-event envelope, parses its three JSON lines with orjson, builds the
event's errors_event row (title, level, times, release, environment, platform; the event stored
as sent) and stores the rows of concurrent requests together — one writer thread per process,
one transaction and one binary COPY per batch — answering each request after that COMMIT, as
the real endpoint's group commit does (apps/errors/commit.py). Nothing else: no DSN key, rate
limit, quota or metering, no dedup by event_id, no scrubbing, no grouping hashes, no grouper,
no issue. So its events/s on a machine is a ceiling for any Python endpoint built this way
there: the gap between it and the real one is the price of what the real one does per event.
Serve with: uvicorn bench.errors_bare:app (DATABASE_URL names the database, BENCH_PROJECT_ID
the project whose errors_event rows it writes).
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import django
import orjson
import psycopg

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from apps.errors.storage import TYPES, data_encode  # noqa: E402
from apps.storage.copy import PreEncodedJsonbDumper  # noqa: E402
from apps.storage.partitions import days_between, ensure_day_partitions  # noqa: E402

_PROJECT = int(os.environ.get("BENCH_PROJECT_ID", "1"))
# The real COPY's columns but the id (its default) and the issue (none: nothing groups here).
COPY = (
    "COPY errors_event (project_id, event_id, received, timestamp, level, title, release, environment,"
    " platform, trace_id, span_id, user_key, hashes, data) FROM STDIN (FORMAT BINARY)"
)
COPY_TYPES = [TYPES[1], *TYPES[3:]]
MAX_BATCH = 1000


class _Writer:
    """Group commit: whatever requests queued while the previous batch committed, in one COPY."""

    def __init__(self) -> None:
        self.queue: list[tuple[tuple[Any, ...], asyncio.Future[bool], asyncio.AbstractEventLoop]] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    async def submit(self, row: tuple[Any, ...]) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        with self.lock:
            self.queue.append((row, future, loop))
            if self.thread is None:
                self.thread = threading.Thread(target=self.run, daemon=True)
                self.thread.start()
            self.wake.set()
        return await future

    def run(self) -> None:
        connection = psycopg.connect(os.environ["DATABASE_URL"])
        connection.adapters.register_dumper(None, PreEncodedJsonbDumper)
        known: set[Any] = set()
        while True:
            self.wake.wait()
            with self.lock:
                batch, self.queue = self.queue[:MAX_BATCH], self.queue[MAX_BATCH:]
                if not self.queue:
                    self.wake.clear()
            if not batch:
                continue
            rows = [row for row, _, _ in batch]
            days = set(days_between(rows[0][2], rows[-1][2])) - known
            if days:
                django.db.close_old_connections()
                ensure_day_partitions("errors_event", days)
                known |= days
            try:
                with connection.transaction(), connection.cursor() as cursor, cursor.copy(COPY) as copy:
                    copy.set_types(COPY_TYPES)
                    for row in rows:
                        copy.write_row(row)
                stored = True
            except psycopg.Error:
                stored = False
            for _, future, loop in batch:
                loop.call_soon_threadsafe(future.set_result, stored)


_writer = _Writer()


def _row(body: bytes) -> tuple[uuid.UUID, tuple[Any, ...]]:
    header, _item, payload = body.split(b"\n", 2)
    event = orjson.loads(payload)
    event_id = uuid.UUID(orjson.loads(header).get("event_id") or event["event_id"])
    exception = (event.get("exception") or {}).get("values") or [{}]
    last = exception[-1]
    title = f"{last.get('type', 'Error')}: {last.get('value', '')}"[:255]
    now = datetime.now(UTC)
    timestamp = event.get("timestamp")
    when = datetime.fromtimestamp(timestamp, UTC) if isinstance(timestamp, int | float) else now
    row = (
        _PROJECT,
        event_id,
        now,
        when,
        str(event.get("level") or "error")[:16],
        title,
        str(event.get("release") or "")[:200],
        str(event.get("environment") or "")[:64],
        str(event.get("platform") or "")[:32],
        "",
        "",
        "",
        b"\x01[]",
        data_encode(payload.rstrip(b"\n")),  # as the real endpoint stores it (LZ4)
    )
    return event_id, row


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    status, answer = 200, b""
    try:
        event_id, row = _row(b"".join(chunks))
    except (ValueError, KeyError, TypeError):
        status = 400
    else:
        if await _writer.submit(row):
            answer = orjson.dumps({"id": event_id.hex})
        else:
            status = 503
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})
