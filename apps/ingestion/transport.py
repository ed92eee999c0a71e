"""The one entry for a transport that hands bodies to Vigil's ingestion: ingestion's own ASGI
fast path (apps.ingestion.asgi) and OTLP/gRPC receiver (apps.ingestion.grpc_server), and the
Sentry routes of apps.errors. What they share, and nothing of the pipeline's insides:

- the message types: `IngestRequest` in, `Reply` out, `JSON_TYPE`, and `IngestError` (status,
  message, details, Retry-After) that every refusal is;
- the body rules every route keeps: `max_body_bytes`, `declared_length`, `decompressed` (gzip and
  deflate under the decompressed cap, `max_decompressed_bytes`);
- on ASGI: `read_body` (capped, with a stall timeout) and `send_reply`;
- `run_in_pool`: the synchronous part of a request on the small ingestion thread pool, with what
  Django does around a view (connections checked before and after, the request id bound for
  logs) and a JSON 500 for a bug instead of a dropped connection;
- `consume_bucket`: the shared Redis token bucket (apps.ingestion.ratelimit), under a bucket key of
  the caller's own, failing open like ingestion's limiter.

Decoding and storing records stays behind apps.ingestion.services.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
from django.conf import settings
from django.db import close_old_connections

from apps.api.errors import error_body
from apps.ingestion import ratelimit
from apps.ingestion.body import declared_length, max_body_bytes, max_decompressed_bytes
from apps.ingestion.body import read_body as decompressed
from apps.ingestion.errors import IngestError
from apps.ingestion.messages import JSON_TYPE, IngestRequest, Reply
from apps.ops.middleware import bound_request_id

__all__ = [
    "JSON_TYPE",
    "App",
    "IngestError",
    "IngestRequest",
    "Receive",
    "Reply",
    "Scope",
    "Send",
    "consume_bucket",
    "declared_length",
    "decompressed",
    "max_body_bytes",
    "max_decompressed_bytes",
    "read_body",
    "run_in_pool",
    "send_reply",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger(__name__)
T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


async def read_body(receive: Receive, limit: int, timeout: float) -> bytes | None:
    """The body, or its first chunks once they pass `limit` (enough to answer 413); None when the
    client disconnects first. TimeoutError when `timeout` seconds pass without a chunk: a client
    that declares more than it sends (or trickles) would otherwise hold a connection and a
    request's memory for as long as it likes, since the server has no body timeout of its own."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await asyncio.wait_for(receive(), timeout)
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
        if size > limit or not message.get("more_body", False):
            return b"".join(chunks)


async def send_reply(send: Send, reply: Reply, request_id: str, close: bool) -> None:
    headers = [
        (b"content-type", reply.content_type.encode()),
        (b"content-length", str(len(reply.body)).encode()),
        (b"x-request-id", request_id.encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    headers.extend((name.lower().encode(), value.encode("latin-1")) for name, value in reply.headers.items())
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.INGEST_WORKER_THREADS, thread_name_prefix="vigil-ingest"
            )
        return _executor


async def run_in_pool(
    handle: Callable[..., T], *args: Any, request_id: str, error_headers: dict[str, str] | None = None
) -> T | Reply:
    """`handle(*args)` on the ingestion pool, inside what Django does around a view: what it
    returns (a Reply, or what the caller finishes the request with), or a 500 Reply."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), _guarded, handle, args, request_id, error_headers or {})


def _guarded(
    handle: Callable[..., T], args: tuple[Any, ...], request_id: str, headers: dict[str, str]
) -> T | Reply:
    with bound_request_id(request_id):
        close_old_connections()
        try:
            return handle(*args)
        except Exception:
            logger.exception(
                "ingestion request failed", extra={"handler": getattr(handle, "__qualname__", "")}
            )
            body = orjson.dumps(error_body(500, "Internal error.", {"request_id": request_id}))
            return Reply(500, JSON_TYPE, body, dict(headers))
        finally:
            close_old_connections()


def consume_bucket(bucket: str, rate: float, burst: float, count: int) -> tuple[bool, int]:
    """Take `count` tokens from the token bucket named `bucket` (refilled at `rate` per second up
    to `burst`): (allowed, seconds to wait when not). Redis down: allowed (losing the limiter must
    not lose data)."""
    return ratelimit.take(bucket, rate, burst, count)
