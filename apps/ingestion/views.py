"""The ingestion endpoints as Django views: the same `endpoint.handle` the ASGI fast path calls
(apps.ingestion.asgi), for the test client and any deployment that routes everything through
Django. Key-authenticated, so `csrf_exempt` and `login_not_required` are explicit here and
nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from apps.ingestion import endpoint
from apps.ingestion.body import charset, max_body_bytes, media_type
from apps.projects.authentication import key_from_headers


def ingest_view(route: endpoint.Route) -> Callable[[HttpRequest], HttpResponse]:
    @csrf_exempt
    @login_not_required
    def view(request: HttpRequest) -> HttpResponse:
        meta = request.META
        ingest_request = endpoint.IngestRequest(
            method=request.method or "",
            content_type=media_type(meta.get("CONTENT_TYPE", "")),
            charset=charset(meta.get("CONTENT_TYPE", "")),
            content_encoding=meta.get("HTTP_CONTENT_ENCODING", "").strip().lower(),
            content_length=meta.get("CONTENT_LENGTH") or "",
            secret=key_from_headers(request),
            body=request.read(max_body_bytes() + 1),
        )
        reply = endpoint.handle(route, ingest_request)
        response = HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
        for name, value in reply.headers.items():
            response[name] = value
        return response

    view.__name__ = route.name.partition(":")[2].replace("-", "_")
    return view
