"""The audit log page and its CSV export (admins and owners)."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django import forms
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.audit.selectors import AuditFilter, audit_events_for, known_actions
from apps.projects.models import Role
from apps.projects.scoping import get_organization_for

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=64)
    actor = forms.CharField(required=False, max_length=254, label="Actor contains")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def to_filter(self) -> AuditFilter:
        data = self.cleaned_data if self.is_valid() else {}
        return AuditFilter(
            action=data.get("action") or "",
            actor=data.get("actor") or "",
            since=data.get("since"),
            until=data.get("until"),
        )


@require_GET
def audit_log(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization, access = get_organization_for(request, organization_id, need=Role.ADMIN)
    form = AuditFilterForm(request.GET)
    events = audit_events_for(organization, form.to_filter())
    before = form.cleaned_data.get("before") if form.is_valid() else None
    if before:
        # Keyset pagination: "older than the last id on the previous page", stable while events arrive.
        events = events.filter(id__lt=before)
    page = list(events[: PAGE_SIZE + 1])
    query = request.GET.copy()
    query.pop("before", None)
    next_query = None
    if len(page) > PAGE_SIZE:
        page = page[:PAGE_SIZE]
        query["before"] = str(page[-1].pk)
        next_query = query.urlencode()
    return render(
        request,
        "audit/log.html",
        {
            "organization": organization,
            "access": access,
            "form": form,
            "events": page,
            "actions": known_actions(organization),
            "next_query": next_query,
            "export_query": request.GET.urlencode(),
        },
        status=200 if form.is_valid() else 400,
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
def audit_export(request: HttpRequest, organization_id: int) -> HttpResponseBase:
    organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
    form = AuditFilterForm(request.GET)
    events = audit_events_for(organization, form.to_filter())[:EXPORT_LIMIT]
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(
            [
                "time",
                "action",
                "actor",
                "actor_key",
                "target_type",
                "target_id",
                "target",
                "ip",
                "user_agent",
                "request_id",
                "changes",
            ]
        )
        for event in events.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    _csv_safe(str(value))
                    for value in (
                        event.created_at.isoformat(),
                        event.action,
                        event.actor_email,
                        event.actor_key_prefix,
                        event.target_type,
                        event.target_id,
                        event.target_repr,
                        event.ip or "",
                        event.user_agent,
                        event.request_id,
                        event.changes,
                    )
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="vigil-audit-{organization.pk}.csv"'
    return response


# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(value: str) -> str:
    """Neutralise spreadsheet formulas in every cell: an email, a name, a user agent, a key prefix,
    even a value inside `changes` can be chosen by whoever caused the event. The leading quote
    makes the cell text; it is what OWASP recommends and spreadsheets hide it."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value
