from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.dashboards.views.common import project_context


@require_GET
def explorer(request: HttpRequest, project_id: int) -> HttpResponse:
    _, _, context = project_context(request, project_id, "logs")
    return render(request, "dashboards/logs.html", context)
