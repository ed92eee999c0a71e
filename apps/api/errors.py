"""The one JSON error shape of the API, {"error": {"code", "message", "details"}}, and the one
mapping from exceptions to it.

Code below the views raises what went wrong, never a response: `BadParameter` (one query
parameter, details `{"parameter": name}`), `InvalidInput` (several named fields, the shape DRF's
serializer errors have), `BadRequest` (a message with free-form details, e.g. a query syntax
error's position), `Conflict` (the state forbids the action: 409). `error_for` turns those into
a status and body; DRF views get it through `api_exception_handler` (settings.REST_FRAMEWORK),
plain Django views through `error_response`.
"""

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
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_records",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answered as it is: `status`, `message`, `details`."""

    status = 400

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(ApiError):
    """400 with a message of its own and free-form details."""


class InvalidInput(ApiError):
    """400 "Invalid input." with the problems by field, as serializer errors are shaped."""

    def __init__(self, details: dict[str, Any]) -> None:
        super().__init__("Invalid input.", details)


class Conflict(ApiError):
    """The action is understood and permitted in general, but the current state forbids it."""

    status = 409


class BadParameter(ValueError):
    """One query parameter is wrong: 400 with details `{"parameter": name}`."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(message)


def error_body(
    status_code: int, message: str, details: Any = None, code: str | None = None
) -> dict[str, Any]:
    return {
        "error": {"code": code or _CODES.get(status_code, "error"), "message": message, "details": details}
    }


def error_for(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    """Status and body for our own exceptions; None for anything else."""
    if isinstance(exc, BadParameter):
        return 400, error_body(400, str(exc), {"parameter": exc.name})
    if isinstance(exc, ApiError):
        return exc.status, error_body(exc.status, exc.message, exc.details, getattr(exc, "code", None))
    return None


def error_response(exc: Exception) -> JsonResponse:
    """The error response of a plain Django view (JSON endpoints of the pages)."""
    mapped = error_for(exc)
    if mapped is None:
        raise exc
    status_code, body = mapped
    return JsonResponse(body, status=status_code)


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
    mapped = error_for(exc)
    if mapped is not None:
        return Response(mapped[1], status=mapped[0])
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
