"""The usage page (organization → Usage): the chart and tables read the same report as the API."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.audit import Actor
from apps.billing import spikes
from apps.billing.api import usage_report, visible_projects
from apps.billing.models import Outcome, SpikeProtection, Statement
from apps.billing.statements import statements_csv
from apps.errors.selectors import sdk_discards_of_organization
from apps.projects.models import Role
from apps.projects.scoping import get_organization_for, get_project_for


def usage_page(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization, access = get_organization_for(request, organization_id, need=Role.VIEWER)
    step = "hour" if request.GET.get("step") == "hour" else "day"
    report = usage_report(organization, access, {"group_by": "reason", "step": step})
    by_project = usage_report(organization, access, {"group_by": "project,signal,reason", "step": "day"})
    names = dict(organization.projects.values_list("pk", "name"))
    today = timezone.now().date()
    rows = [
        {**row, "project": names.get(row["project_id"], f"deleted project {row['project_id']}")}
        for row in by_project["totals"]
    ]
    projects = list(visible_projects(organization, access))
    names.update((project.pk, project.name) for project in projects)
    disabled = set(
        SpikeProtection.objects.filter(project__in=projects, enabled=False).values_list(
            "project_id", flat=True
        )
    )
    episodes = [
        {"hour": e.hour, "threshold": e.threshold, "dropped": e.dropped, "project_name": names[e.project_id]}
        for e in spikes.recent_episodes(organization, timezone.now(), hours=7 * 24)
        if e.project_id in names and (access.can_admin or e.project_id in {p.pk for p in projects})
    ]
    return render(
        request,
        "billing/usage.html",
        {
            "episodes": episodes,
            "spike_projects": [
                {"pk": p.pk, "name": p.name, "enabled": p.pk not in disabled} for p in projects
            ],
            "spike_factor": settings.SPIKE_PROTECTION_FACTOR,
            "spike_floor": settings.SPIKE_PROTECTION_FLOOR,
            "organization": organization,
            "access": access,
            "report": report,
            "rows": sorted(rows, key=lambda r: (r["project"], r["signal"], r["reason"])),
            "outcomes": {choice.value: choice.label for choice in Outcome},
            "step": step,
            # What never reached us: SDKs' own drops (Sentry client reports), last 30 days.
            "sdk_discards": [
                {**vars(d), "project": names.get(d.project_id, f"deleted project {d.project_id}")}
                for d in sdk_discards_of_organization(organization.pk, today - timedelta(days=29), today)
                if d.project_id in {p.pk for p in projects}  # the projects this member may see
            ],
            "statements": Statement.objects.filter(organization=organization)[:24]
            if access.can_admin
            else [],
        },
    )


def statements_download(request: HttpRequest, organization_id: int) -> HttpResponse:
    """The organization's monthly statements as CSV (owners and admins)."""
    organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
    response = HttpResponse(statements_csv(organization.pk), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="vigil-statements-{organization.pk}.csv"'
    return response


@require_POST
def spike_protection_toggle(request: HttpRequest, organization_id: int, project_id: int) -> HttpResponse:
    """The Usage page's on/off button of one project's spike protection (admins)."""
    organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
    project, _ = get_project_for(request, project_id, need=Role.ADMIN)
    if project.organization_id != organization.pk:
        raise Http404("No such project.")
    enabled = request.POST.get("enabled") == "on"
    if spikes.spike_protection_set(project, enabled, by=Actor.from_request(request)):
        messages.success(request, f"Spike protection is {'on' if enabled else 'off'} for {project.name}.")
    return HttpResponseRedirect(reverse("billing:usage", args=[organization.pk]) + "#spikes")
