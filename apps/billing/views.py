"""The usage page (organization → Usage): the chart and tables read the same report as the API."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.billing.api import usage_report
from apps.billing.models import Outcome, Statement
from apps.billing.statements import statements_csv
from apps.projects.models import Role
from apps.projects.scoping import get_organization_for


def usage_page(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization, access = get_organization_for(request, organization_id, need=Role.VIEWER)
    step = "hour" if request.GET.get("step") == "hour" else "day"
    report = usage_report(organization, access, {"group_by": "reason", "step": step})
    by_project = usage_report(organization, access, {"group_by": "project,signal,reason", "step": "day"})
    names = dict(organization.projects.values_list("pk", "name"))
    rows = [
        {**row, "project": names.get(row["project_id"], f"deleted project {row['project_id']}")}
        for row in by_project["totals"]
    ]
    return render(
        request,
        "billing/usage.html",
        {
            "organization": organization,
            "access": access,
            "report": report,
            "rows": sorted(rows, key=lambda r: (r["project"], r["signal"], r["reason"])),
            "outcomes": {choice.value: choice.label for choice in Outcome},
            "step": step,
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
