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

import time

import orjson
from django.conf import settings

from apps.api.errors import error_body
from apps.ingestion import endpoint
from apps.ingestion.body import charset, media_type
from apps.ingestion.transport import (
    App,
    Receive,
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
from apps.projects.authentication import key_from_values

_HEADERS = {
    b"content-type",
    b"content-encoding",
    b"content-length",
    b"authorization",
    b"x-api-key",
    b"x-request-id",
}


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
                body = await read_body(receive, limit, settings.INGEST_BODY_TIMEOUT_SECONDS)
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
        reply = await run_in_pool(endpoint.handle, route, request, request_id=request_id)
        # A body left unread (over the cap) would have to be read to its end to keep the connection.
        unread = len(body) > limit or (length is not None and length > len(body))
        await send_reply(send, reply, request_id, close=unread)
        record_request(request.method, route.name, reply.status, started)

    return serve


def _wanted_headers(raw: list[tuple[bytes, bytes]]) -> dict[bytes, str]:
    return {name.lower(): value.decode("latin-1") for name, value in raw if name.lower() in _HEADERS}


async def _send_timeout(
    send: Send, method: str, headers: dict[bytes, str], route: endpoint.Route, started: float
) -> None:
    """408 and close: the rest of the body may still come, and this connection cannot be reused."""
    request_id = request_id_for(headers.get(b"x-request-id", ""))
    timeout = settings.INGEST_BODY_TIMEOUT_SECONDS
    message = f"No request body data for {timeout:g} s; send the whole body promptly."
    body = orjson.dumps(error_body(408, message, {"timeout_seconds": timeout}, code="request_timeout"))
    await send_reply(send, endpoint.Reply(408, endpoint.JSON_TYPE, body), request_id, close=True)
    record_request(method, route.name, 408, started)
