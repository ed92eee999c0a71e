"""Ingestion endpoints. Key-authenticated, so `csrf_exempt` and `login_not_required` are explicit
here and nowhere else. Never a redirect: a POST to /v1/logs/ is served like /v1/logs, because
the Python OTLP exporter counts a 301 as success and drops the data.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.ingestion import otlp, services
from apps.ingestion.body import content_type
from apps.ingestion.errors import IngestError
from apps.ops.errors import json_error

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


def _otlp(request: HttpRequest, signal: str) -> HttpResponse:
    received = content_type(request)
    reply_type = otlp.PROTOBUF if received == otlp.PROTOBUF else otlp.JSON
    try:
        if request.method != "POST":
            raise IngestError(405, "Use POST.")
        identity = services.authenticate(request)
        if received not in (otlp.PROTOBUF, otlp.JSON):
            raise IngestError(415, "Content-Type must be application/x-protobuf or application/json.")
        batch = services.ingest_otlp(request, identity, signal, received)
    except IngestError as exc:
        body = otlp.status_body(reply_type, GRPC_CODES.get(exc.status, 2), exc.message)
        response = HttpResponse(body, status=exc.status, content_type=reply_type)
        for name, value in exc.headers().items():
            response[name] = value
        return response
    return HttpResponse(
        otlp.response_body(signal, reply_type, batch.rejected, batch.error_message()), content_type=reply_type
    )


def _native(request: HttpRequest, signal: str) -> HttpResponse:
    try:
        if request.method != "POST":
            raise IngestError(405, "Use POST.")
        identity = services.authenticate(request)
        if content_type(request) not in NATIVE_TYPES:
            raise IngestError(415, "Content-Type must be application/json or application/x-ndjson.")
        batch = services.ingest_native(request, identity, signal)
    except IngestError as exc:
        return json_error(exc.status, exc.message, exc.details, exc.code, exc.headers())
    return JsonResponse({"accepted": batch.accepted, "rejected": batch.rejected, "errors": batch.reasons})


@csrf_exempt
@login_not_required
def otlp_logs(request: HttpRequest) -> HttpResponse:
    return _otlp(request, "logs")


@csrf_exempt
@login_not_required
def otlp_metrics(request: HttpRequest) -> HttpResponse:
    return _otlp(request, "metrics")


@csrf_exempt
@login_not_required
def otlp_traces(request: HttpRequest) -> HttpResponse:
    return _otlp(request, "traces")


@csrf_exempt
@login_not_required
def native_logs(request: HttpRequest) -> HttpResponse:
    return _native(request, "logs")


@csrf_exempt
@login_not_required
def native_metrics(request: HttpRequest) -> HttpResponse:
    return _native(request, "metrics")
