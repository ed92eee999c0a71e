"""The one JSON error shape of the API: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_records",
    429: "rate_limited",
    503: "unavailable",
}


def error_body(
    status_code: int, message: str, details: Any = None, code: str | None = None
) -> dict[str, Any]:
    return {
        "error": {"code": code or _CODES.get(status_code, "error"), "message": message, "details": details}
    }


def json_error(
    status_code: int,
    message: str,
    details: Any = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    response = JsonResponse(error_body(status_code, message, details, code), status=status_code)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        message, details = "Invalid input.", exc.detail
        status_code = status.HTTP_400_BAD_REQUEST
    else:
        detail = getattr(exc, "detail", str(exc))
        message, details = str(detail), None
        status_code = response.status_code
    response.data = error_body(status_code, message, details)
    return response
