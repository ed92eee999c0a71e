"""Ops endpoints (health, readiness, self metrics) and the error pages: JSON under /api/ and
for ingestion paths, HTML elsewhere."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from apps.api.errors import error_body, json_error
from apps.ops import health, metrics

logger = logging.getLogger(__name__)

_JSON_PREFIXES = ("/api/", "/v1/")
_READ_METHODS = ("GET", "HEAD")
# Probes retry on their own schedule; this only hints well-behaved clients not to hammer us.
READY_RETRY_AFTER_SECONDS = "5"

View = Callable[[HttpRequest], HttpResponse]


def read_only(view: View) -> View:
    """GET/HEAD only, with a JSON 405 (Django's require_GET answers with an empty HTML body)."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if request.method not in _READ_METHODS:
            return json_error(405, "Use GET.", headers={"Allow": ", ".join(_READ_METHODS)})
        return view(request)

    return wrapper


@login_not_required
@never_cache
@read_only
def health_live(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers HTTP. No I/O, so a slow database never gets a pod restarted."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@read_only
def health_ready(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 when database, redis and migrations are fine, 503 otherwise (see apps/ops/health.py)."""
    is_ready, checks = health.readiness()
    if is_ready:
        return JsonResponse({"status": "ok", "checks": checks})
    failed = [name for name in health.REQUIRED_CHECKS if not checks[name]["ok"]]
    # Keeps the API's error shape for clients that read error.code, and the checks for humans.
    error = error_body(503, f"Not ready: {', '.join(failed)}.", details={"failed": failed})
    response = JsonResponse({"status": "unavailable", "checks": checks, **error}, status=503)
    response["Retry-After"] = READY_RETRY_AFTER_SECONDS
    return response


def _has_metrics_token(request: HttpRequest, expected: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    # Constant-time comparison: a byte-by-byte early exit would leak the token through timing.
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


@login_not_required
@never_cache
@read_only
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of Vigil's own metrics, for ``Authorization: Bearer <METRICS_TOKEN>``.

    When METRICS_TOKEN is empty (the default) the endpoint is disabled and answers 404, as if it
    did not exist: an unprotected /metrics would publish route names and traffic to anyone.
    """
    expected = settings.METRICS_TOKEN
    if not expected:
        return json_error(404, "Not found.")
    if not _has_metrics_token(request, expected):
        return json_error(401, "A valid metrics token is required.", headers={"WWW-Authenticate": "Bearer"})
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(_JSON_PREFIXES) or "application/json" in request.headers.get("Accept", "")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return json_error(404, "Not found.")
    return render(request, "errors/404.html", status=404)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else "You do not have permission to do this."
    if _wants_json(request):
        return json_error(403, message)
    return render(request, "errors/403.html", {"message": message}, status=403)


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in {"localhost", "127.0.0.1", "[::1]"} or name.endswith(".localhost")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: say why a form was refused and what to do, never a bare 403.

    The common case on a local stack: opened over plain HTTP from another machine, where browsers
    do not send the Secure (`__Host-`) cookies, so no form can ever pass the check.
    """
    host = request.get_host()
    plain_http = not request.is_secure() and settings.CSRF_COOKIE_SECURE and not _is_loopback(host)
    if plain_http:
        message = (
            f"This page was opened over plain HTTP at {host}, and Vigil's cookies are Secure: browsers send "
            "them only over HTTPS (or to localhost), so the form could not be verified. Open Vigil over "
            "HTTPS, or, on a trusted network only, start it with ALLOW_PLAIN_HTTP=true."
        )
    else:
        message = f"The form could not be verified ({reason.rstrip('.')}). Reload the page and try again."
    if _wants_json(request):
        return json_error(403, message, code="csrf_failed")
    context = {"message": message, "plain_http": plain_http, "host": host}
    return render(request, "errors/csrf.html", context, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return json_error(500, "Internal error; it has been logged.", code="internal_error")
    return render(request, "errors/500.html", status=500)
