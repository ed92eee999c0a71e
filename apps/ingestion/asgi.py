"""The ASGI fast path for ingestion: /v1/{logs,metrics,traces} and /api/v1/ingest/{logs,metrics}
are served here, in front of Django, by the same `endpoint.handle` as the Django views.

Why: ingestion requests are the product's hot path, and Django's ASGI handler costs ~4 ms of CPU
per request before the view runs (a new thread per request, the body spooled to a temporary file,
a dozen middlewares, signals) — measured 5.3 ms for a rejected 232 KiB request against 1.0 ms for
a bare ASGI app reading the same body (BENCHMARKS.md). Here a request costs: read the body (at most
the cap + 1 bytes, so an endless chunked body is never read to its end), one hop to a small
thread pool (the database work is synchronous), the reply. What the middleware gave these routes is
kept: request id (logs and `X-Request-ID`), request metrics, `nosniff`, database connections
handled as Django handles them around a request. Not applied, on purpose: Host validation (these
routes build no URL from the Host) and SECURE_SSL_REDIRECT (an exporter that gets a redirect for
a POST drops the data; terminate TLS in front instead).

Wire it around the Django app in config/asgi.py: `http_app = ingest_fast_path(get_asgi_application())`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from django.conf import settings
from django.db import close_old_connections

from apps.api.errors import error_body
from apps.ingestion import endpoint
from apps.ingestion.body import charset, declared_length, max_body_bytes, media_type
from apps.ops.metrics import record_request
from apps.ops.middleware import bound_request_id, request_id_for
from apps.projects.authentication import key_from_values

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger(__name__)

_HEADERS = {
    b"content-type",
    b"content-encoding",
    b"content-length",
    b"authorization",
    b"x-api-key",
    b"x-request-id",
}
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def ingest_fast_path(app: App) -> App:
    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        route = endpoint.ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _wanted_headers(scope["headers"])
        limit = max_body_bytes()
        declared = headers.get(b"content-length", "")
        length = declared_length(declared)
        body: bytes | None = b""  # when refused (413) by its declared length: not worth reading
        if length is None or length <= limit:
            try:
                body = await _read_body(receive, limit, settings.INGEST_BODY_TIMEOUT_SECONDS)
            except TimeoutError:
                await _send_timeout(send, scope["method"], headers, route, started)
                return
        if body is None:
            return  # the client went away before sending its whole body: nothing to answer
        request = endpoint.IngestRequest(
            method=scope["method"],
            content_type=media_type(headers.get(b"content-type", "")),
            charset=charset(headers.get(b"content-type", "")),
            content_encoding=headers.get(b"content-encoding", "").strip().lower(),
            content_length=declared,
            secret=key_from_values(headers.get(b"authorization", ""), headers.get(b"x-api-key", "")),
            body=body,
        )
        request_id = request_id_for(headers.get(b"x-request-id", ""))
        loop = asyncio.get_running_loop()
        reply = await loop.run_in_executor(_pool(), _serve, route, request, request_id)
        # A body left unread (over the cap) would have to be read to its end to keep the connection.
        unread = len(body) > limit or (length is not None and length > len(body))
        await _send_reply(send, reply, request_id, close=unread)
        record_request(request.method, route.name, reply.status, started)

    return serve


def _wanted_headers(raw: list[tuple[bytes, bytes]]) -> dict[bytes, str]:
    return {name.lower(): value.decode("latin-1") for name, value in raw if name.lower() in _HEADERS}


async def _read_body(receive: Receive, limit: int, timeout: float) -> bytes | None:
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


async def _send_timeout(
    send: Send, method: str, headers: dict[bytes, str], route: endpoint.Route, started: float
) -> None:
    """408 and close: the rest of the body may still come, and this connection cannot be reused."""
    request_id = request_id_for(headers.get(b"x-request-id", ""))
    timeout = settings.INGEST_BODY_TIMEOUT_SECONDS
    message = f"No request body data for {timeout:g} s; send the whole body promptly."
    body = orjson.dumps(error_body(408, message, {"timeout_seconds": timeout}, code="request_timeout"))
    await _send_reply(send, endpoint.Reply(408, endpoint.JSON_TYPE, body), request_id, close=True)
    record_request(method, route.name, 408, started)


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.INGEST_WORKER_THREADS, thread_name_prefix="vigil-ingest"
            )
        return _executor


def _serve(route: endpoint.Route, request: endpoint.IngestRequest, request_id: str) -> endpoint.Reply:
    """In a pool thread: what Django does around a view (connections checked before and after,
    as its request_started/request_finished signals do), and a JSON 500 for a bug."""
    with bound_request_id(request_id):
        close_old_connections()
        try:
            return endpoint.handle(route, request)
        except Exception:
            logger.exception("ingestion request failed", extra={"route": route.name})
            body = orjson.dumps(error_body(500, "Internal error.", {"request_id": request_id}))
            return endpoint.Reply(500, endpoint.JSON_TYPE, body)
        finally:
            close_old_connections()


async def _send_reply(send: Send, reply: endpoint.Reply, request_id: str, close: bool) -> None:
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
