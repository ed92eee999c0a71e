"""The project overview: a server-rendered shell (empty state, latency metric, demo state) whose
charts load from `activity` and the read API, and move with the live socket (static/js/overview.js)."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps import audit
from apps.api.errors import BadParameter, error_response
from apps.api.timerange import parse_range
from apps.dashboards import demo, summary, tasks
from apps.dashboards.models import DemoFeed
from apps.dashboards.views.common import project_context
from apps.projects.models import Role
from apps.projects.scoping import get_project_for


@require_GET
def overview(request: HttpRequest, project_id: int) -> HttpResponse:
    project, _, context = project_context(request, project_id, "overview")
    demo.seen(project)
    latency = summary.latency_metric(project.pk)
    feed = DemoFeed.objects.filter(project=project).first()
    context.update(
        has_telemetry=summary.has_telemetry(project.pk),
        latency_metric=latency[0] if latency else "",
        latency_factor=latency[1] if latency else 1.0,
        demo_pending=feed is not None and feed.is_pending,
        is_demo=feed is not None,
    )
    return render(request, "dashboards/overview.html", context)


@require_GET
def activity(request: HttpRequest, project_id: int) -> JsonResponse:
    """Counts per bucket for the overview charts (session only; the page's own data endpoint)."""
    project, _ = get_project_for(request, project_id)
    try:
        window = parse_range(request.GET.get("start"), request.GET.get("end"))
    except BadParameter as bad:
        return error_response(bad)
    return JsonResponse(summary.project_activity(project.pk, window))


@require_POST
def demo_fill(request: HttpRequest, project_id: int) -> HttpResponse:
    """Admins only: flag the project for demo data and let a worker fill it (a few seconds)."""
    project, _ = get_project_for(request, project_id, need=Role.ADMIN)
    with transaction.atomic():
        demo.mark(project)
        # Not a security change, but a teammate finding a shop's telemetry in their project
        # should be able to tell who put it there.
        audit.record("project.demo_fill", request=request, organization=project.organization, target=project)
        # robust: with the broker down the flag stays set and the click is not a 500.
        transaction.on_commit(lambda: tasks.demo_fill.delay(project.pk), robust=True)
    messages.success(request, "Demo data is on its way: the charts fill in within seconds.")
    return redirect("dashboards:overview", project_id=project.pk)
