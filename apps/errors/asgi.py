"""The ASGI fast path for the Sentry routes, wrapped around ingestion's (config/asgi.py).

Same shape as apps.ingestion.asgi, with the body reader, thread pool and reply writer every
transport shares (apps.ingestion.transport): the body is read here (chunked bodies too, which is
what @sentry/node sends), capped at the body limit + 1 bytes, and `ingest.prepare` runs in the
ingestion thread pool with Django's connection handling around it — or, for a request that needs
no I/O before its commit (most uncompressed events: `ingest.prepare_inline`), on the event
loop; the events of concurrent requests are then admitted (billing) and committed together by the
process's writer thread (apps.errors.commit), which answers each request after that COMMIT and
wakes the grouper.
"""

from __future__ import annotations

import time

import orjson
from django.conf import settings

from apps.api.errors import error_body
from apps.errors import commit, ingest
from apps.ingestion.transport import (
    JSON_TYPE,
    App,
    Receive,
    Reply,
    Scope,
    Send,
    declared_length,
    max_body_bytes,
    read_body,
    run_in_pool,
    send_reply,
)
from apps.ops.metrics import record_request
from apps.ops.middleware import request_id_for

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
                body = await read_body(receive, limit, settings.INGEST_BODY_TIMEOUT_SECONDS)
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
        # Most events need no I/O before their commit: prepared right here, without the pool's hop.
        prepared = ingest.prepare_inline(request)
        if prepared is None:
            prepared = await run_in_pool(
                ingest.prepare, request, request_id=request_id, error_headers=ingest.CORS
            )
        if isinstance(prepared, Reply):
            reply = prepared
        elif prepared.rows:
            reply = await commit.writer.submit(prepared)  # answered after its batch's COMMIT
        else:
            reply = ingest.commit([prepared])[0]  # no events: nothing to write, no I/O
        unread = len(body) > limit or (length is not None and length > len(body))
        await send_reply(send, reply, request_id, close=unread)
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
    await send_reply(send, Reply(408, JSON_TYPE, body, dict(ingest.CORS)), request_id, close=True)
    record_request(method, f"errors:sentry-{kind}", 408, started)
