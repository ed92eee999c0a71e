"""The ASGI fast path for the Sentry routes, wrapped around ingestion's (config/asgi.py).

Same shape as apps.ingestion.asgi, whose body reader, thread pool and reply writer it reuses:
the body is read here (chunked bodies too, which is what @sentry/node sends), capped at the body
limit + 1 bytes, and `ingest.handle` runs in the ingestion thread pool with Django's connection
handling around it.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from django.conf import settings
from django.db import close_old_connections

from apps.api.errors import error_body
from apps.errors import grouper, ingest
from apps.ingestion.asgi import App, Receive, Scope, Send, _pool, _read_body, _send_reply
from apps.ingestion.body import declared_length, max_body_bytes
from apps.ingestion.endpoint import JSON_TYPE, Reply
from apps.ops.metrics import record_request
from apps.ops.middleware import bound_request_id, request_id_for

logger = logging.getLogger(__name__)

_HEADERS = {b"content-encoding", b"content-length", b"x-sentry-auth", b"x-request-id"}


def sentry_fast_path(app: App) -> App:
    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        route = ingest.match(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {
            name.lower(): value.decode("latin-1")
            for name, value in scope["headers"]
            if name.lower() in _HEADERS
        }
        limit = max_body_bytes()
        declared = headers.get(b"content-length", "")
        length = declared_length(declared)
        body: bytes | None = b""
        if length is None or length <= limit:
            try:
                body = await _read_body(receive, limit, settings.INGEST_BODY_TIMEOUT_SECONDS)
            except TimeoutError:
                await _send_timeout(send, scope["method"], headers, route[1], started)
                return
        if body is None:
            return  # the client went away before sending its whole body
        request = ingest.SentryRequest(
            method=scope["method"],
            project_id=route[0],
            kind=route[1],
            query=scope.get("query_string", b"").decode("latin-1"),
            sentry_auth=headers.get(b"x-sentry-auth", ""),
            content_encoding=headers.get(b"content-encoding", "").strip().lower(),
            content_length=declared,
            body=body,
        )
        request_id = request_id_for(headers.get(b"x-request-id", ""))
        reply = await asyncio.get_running_loop().run_in_executor(_pool(), _serve, request, request_id)
        if reply.status == 200:
            grouper.batcher.notify(request.project_id)  # its events are stored: group them soon
        unread = len(body) > limit or (length is not None and length > len(body))
        await _send_reply(send, reply, request_id, close=unread)
        record_request(request.method, f"errors:sentry-{route[1]}", reply.status, started)

    return serve


async def _send_timeout(
    send: Send, method: str, headers: dict[bytes, str], kind: str, started: float
) -> None:
    """408 and close, as ingestion answers a stalled body (apps.ingestion.asgi)."""
    request_id = request_id_for(headers.get(b"x-request-id", ""))
    timeout = settings.INGEST_BODY_TIMEOUT_SECONDS
    message = f"No request body data for {timeout:g} s; send the whole body promptly."
    body = orjson.dumps(error_body(408, message, {"timeout_seconds": timeout}, code="request_timeout"))
    await _send_reply(send, Reply(408, JSON_TYPE, body, dict(ingest.CORS)), request_id, close=True)
    record_request(method, f"errors:sentry-{kind}", 408, started)


def _serve(request: ingest.SentryRequest, request_id: str) -> Reply:
    with bound_request_id(request_id):
        close_old_connections()
        try:
            return ingest.handle(request)
        except Exception:
            logger.exception("sentry ingestion request failed")
            body = orjson.dumps(error_body(500, "Internal error.", {"request_id": request_id}))
            return Reply(500, JSON_TYPE, body, dict(ingest.CORS))
        finally:
            close_old_connections()
