from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.dashboards.views.common import project_context
from apps.projects.models import Role
from apps.projects.scoping import get_project_for


@require_GET
def overview(request: HttpRequest, project_id: int) -> HttpResponse:
    _, _, context = project_context(request, project_id, "overview")
    return render(request, "dashboards/overview.html", context)


@require_POST
def demo_fill(request: HttpRequest, project_id: int) -> HttpResponse:
    project, _ = get_project_for(request, project_id, need=Role.ADMIN)
    return redirect("dashboards:overview", project_id=project.pk)
