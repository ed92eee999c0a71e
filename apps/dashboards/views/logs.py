"""Log explorer page: a server-rendered shell (query bar, range picker, histogram, result table)
that static/js/logs.js fills from the read API and the live socket. The view state (query, range,
live tail) lives in the URL query, so the page needs no parameters here."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.dashboards.views.common import project_context

# The ranges of the picker; the same keys as Vigil.RANGES in static/js/dash.js.
RANGE_CHOICES = ("15m", "1h", "6h", "24h", "7d", "30d")


@require_GET
def explorer(request: HttpRequest, project_id: int) -> HttpResponse:
    _, _, context = project_context(request, project_id, "logs")
    context["ranges"] = RANGE_CHOICES
    return render(request, "dashboards/logs.html", context)
