"""Trace pages: the list of recent traces and one trace as a waterfall with its logs. Both are
shells filled by static/js/traces.js from the read API; an unknown or expired trace id is a state
of the page (the API answers 404), not an error page, so the member can go back to the list."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.billing import retention
from apps.dashboards.views.common import project_context
from apps.dashboards.views.logs import RANGE_CHOICES


@require_GET
def trace_list(request: HttpRequest, project_id: int) -> HttpResponse:
    _, _, context = project_context(request, project_id, "traces")
    context["ranges"] = RANGE_CHOICES
    return render(request, "dashboards/traces.html", context)


@require_GET
def trace_detail(request: HttpRequest, project_id: int, trace_id: str) -> HttpResponse:
    project, _, context = project_context(request, project_id, "traces")
    # Ids are hex and the API compares them lower-cased; anything else is rendered (escaped) and
    # the API's 400 becomes the page's "not a trace id" state.
    context["trace_id"] = trace_id.lower()
    context["span_retention_days"] = retention.for_project(project.pk).span_days  # for "past retention"
    return render(request, "dashboards/trace.html", context)
