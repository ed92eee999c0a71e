"""The metrics explorer: a server-rendered shell; static/js/metrics.js keeps the view (metric,
aggregation, grouping, filters, range) in the URL and charts it from the metric read API."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.dashboards import demo
from apps.dashboards.views.common import project_context


@require_GET
def explorer(request: HttpRequest, project_id: int) -> HttpResponse:
    project, _, context = project_context(request, project_id, "metrics")
    demo.seen(project)
    return render(request, "dashboards/metrics.html", context)
