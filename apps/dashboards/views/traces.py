from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.dashboards.views.common import project_context


@require_GET
def trace_list(request: HttpRequest, project_id: int) -> HttpResponse:
    _, _, context = project_context(request, project_id, "traces")
    return render(request, "dashboards/traces.html", context)


@require_GET
def trace_detail(request: HttpRequest, project_id: int, trace_id: str) -> HttpResponse:
    _, _, context = project_context(request, project_id, "traces")
    context["trace_id"] = trace_id
    return render(request, "dashboards/trace.html", context)
