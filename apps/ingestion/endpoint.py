"""The ingestion endpoints, independent of the web framework: a request in, a reply out.

Two transports call `handle`: the Django views (apps.ingestion.views: the test client, and any
deployment that routes everything through Django) and the ASGI fast path (apps.ingestion.asgi),
which serves these routes without Django's request machinery — ingestion is the hottest path of
the product, and Django's handler, middleware and per-request thread cost ~4 ms of CPU per request
(a fifth of a 1,000-record request). Both answer byte for byte the same, because both call this.

Never a redirect: a POST to /v1/logs/ is served like /v1/logs, because the Python OTLP exporter
counts a 301 as success and drops the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from apps.api.errors import error_body
from apps.billing import quota
from apps.ingestion import otlp, services
from apps.ingestion.errors import IngestError
from apps.ingestion.messages import JSON_TYPE, IngestRequest, Reply
from apps.projects.authentication import KeyIdentity

__all__ = ["JSON_TYPE", "ROUTES", "IngestRequest", "Reply", "Route", "handle"]  # transports use these
QUOTA_LIMIT_HEADER = "X-Vigil-Quota-Limit"  # with -Remaining and -Reset on every authenticated answer


@dataclass(frozen=True)
class Route:
    encoding: str  # "otlp" | "native" | "prom" (Prometheus remote-write)
    signal: str  # "logs" | "metrics" | "traces"
    name: str  # the URL name, as Django's resolver would report it (metrics label)


def _both(path: str, encoding: str, signal: str, name: str) -> dict[str, Route]:
    return {
        path: Route(encoding, signal, f"ingestion:{name}"),
        path + "/": Route(encoding, signal, f"ingestion:{name}-slash"),
    }


ROUTES: dict[str, Route] = {
    **_both("/v1/logs", "otlp", "logs", "otlp-logs"),
    **_both("/v1/metrics", "otlp", "metrics", "otlp-metrics"),
    **_both("/v1/traces", "otlp", "traces", "otlp-traces"),
    **_both("/api/v1/ingest/logs", "native", "logs", "native-logs"),
    **_both("/api/v1/ingest/metrics", "native", "metrics", "native-metrics"),
    **_both("/api/v1/prom/write", "prom", "metrics", "prom-write"),
}

NATIVE_TYPES = {
    "application/json",
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/jsonlines",
}
# HTTP status -> google.rpc.Code in OTLP error bodies. Only 429/503 invite the exporter to retry.
GRPC_CODES = {400: 3, 401: 16, 403: 7, 405: 12, 413: 3, 415: 3, 422: 3, 429: 8, 503: 14}


def handle(route: Route, request: IngestRequest) -> Reply:
    if route.encoding == "otlp":
        return _otlp(route.signal, request)
    if route.encoding == "prom":
        return _prom(request)
    return _native(route.signal, request)


def _otlp(signal: str, request: IngestRequest) -> Reply:
    received = request.content_type
    reply_type = otlp.PROTOBUF if received == otlp.PROTOBUF else otlp.JSON
    identity = None
    check = services.KeyCheck(request.secret)
    try:
        _check_method(request)
        identity = check.authenticate()
        if received not in (otlp.PROTOBUF, otlp.JSON):
            raise IngestError(415, "Content-Type must be application/x-protobuf or application/json.")
        if received == otlp.JSON:
            _check_charset(request)
        batch = services.ingest_otlp(request, identity, signal, received, check)
    except IngestError as refusal:
        exc, identity = _settled(refusal, identity, check)
        body = otlp.status_body(reply_type, GRPC_CODES.get(exc.status, 2), exc.message)
        return Reply(exc.status, reply_type, body, _headers(exc, identity))
    body = otlp.response_body(signal, reply_type, batch.rejected, batch.error_message())
    return Reply(200, reply_type, body, batch.headers)


def _native(signal: str, request: IngestRequest) -> Reply:
    identity = None
    check = services.KeyCheck(request.secret)
    try:
        _check_method(request)
        identity = check.authenticate()
        if request.content_type not in NATIVE_TYPES:
            raise IngestError(415, "Content-Type must be application/json or application/x-ndjson.")
        _check_charset(request)
        batch = services.ingest_native(request, identity, signal, check)
    except IngestError as refusal:
        exc, identity = _settled(refusal, identity, check)
        body = orjson.dumps(error_body(exc.status, exc.message, exc.details, exc.code))
        return Reply(exc.status, JSON_TYPE, body, _headers(exc, identity))
    answer: dict[str, Any] = {
        "accepted": batch.accepted,
        "rejected": batch.rejected,
        "errors": batch.reasons,
        "warnings": batch.warnings,
    }
    if batch.dropped:
        answer["dropped"] = batch.dropped  # e.g. {"quota": 120}: throttled past the plan's quota
    return Reply(200, JSON_TYPE, orjson.dumps(answer), batch.headers)


def _prom(request: IngestRequest) -> Reply:
    """Remote-write 1.0 answers: 2xx only after commit (204, or 200 with the counts when some
    samples were refused); 400/413/415 are final for Prometheus, 429 and 5xx are retried."""
    identity = None
    check = services.KeyCheck(request.secret)
    try:
        _check_method(request)
        identity = check.authenticate()
        if request.content_type != otlp.PROTOBUF:
            raise IngestError(415, "Content-Type must be application/x-protobuf (remote-write 1.0).")
        batch = services.ingest_prom(request, identity, check)
    except IngestError as refusal:
        exc, identity = _settled(refusal, identity, check)
        body = orjson.dumps(error_body(exc.status, exc.message, exc.details, exc.code))
        return Reply(exc.status, JSON_TYPE, body, _headers(exc, identity))
    if not batch.rejected:
        return Reply(204, JSON_TYPE, b"", batch.headers)
    body = orjson.dumps({"accepted": batch.accepted, "rejected": batch.rejected, "errors": batch.reasons})
    return Reply(200, JSON_TYPE, body, batch.headers)


def _settled(
    exc: IngestError, identity: KeyIdentity | None, check: services.KeyCheck
) -> tuple[IngestError, KeyIdentity | None]:
    """A refusal of a request whose key came from the cache unchecked (refused before its
    admission, which checks revocations): the 401 instead when the key was revoked meanwhile.
    A 401 carries no quota headers: the key is not the organization's any more."""
    if exc.status == 401:
        return exc, None
    if identity is None or check.confirmed:
        return exc, identity
    try:
        check.settle()
    except IngestError as revoked:
        return revoked, None
    return exc, identity


def _check_method(request: IngestRequest) -> None:
    if request.method != "POST":
        raise IngestError(405, "Use POST.")


def _check_charset(request: IngestRequest) -> None:
    """JSON is read as UTF-8 (RFC 8259): a body declared in another charset would be misread,
    its text stored garbled or refused as malformed, so it is refused for what it is."""
    if request.charset not in ("", "utf-8", "utf8"):
        raise IngestError(
            415,
            f"Unsupported charset {request.charset[:40]!r}: JSON bodies must be UTF-8.",
            {"charset": request.charset[:40]},
        )


def _headers(exc: IngestError, identity: KeyIdentity | None) -> dict[str, str]:
    headers = exc.headers()
    if identity is not None and QUOTA_LIMIT_HEADER not in headers:
        headers.update(quota.headers_for(identity.organization_id))
    if exc.status == 405:
        headers["Allow"] = "POST"
    return headers
