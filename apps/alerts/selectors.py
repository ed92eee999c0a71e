"""Reads of alerts: for other apps' pages (the organization home's incidents cell, the project
overview's banner) and for the incident page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.http import Http404

from apps.alerts.models import Incident, IncidentState, Kind, Policy
from apps.alerts.recent import recent_values
from apps.api.timerange import TimeRange
from apps.logs.query import And, Equals, JsonMatch, Node, QuerySyntaxError, parse
from apps.logs.selectors import search_logs
from apps.projects.models import Project
from apps.traces.selectors import TraceFilter, recent_traces


@dataclass(frozen=True)
class AlertSummary:
    policies: int
    open_incidents: int  # firing or acknowledged
    firing: int  # open and not acknowledged


def alert_summaries(project_ids: list[int]) -> dict[int, AlertSummary]:
    """Per project: enabled policies and open incidents; two grouped queries for all projects."""
    policies = dict(
        Policy.objects.filter(project_id__in=project_ids, enabled=True)
        .values("project_id")
        .annotate(n=Count("id"))
        .values_list("project_id", "n")
    )
    incidents: dict[int, dict[str, int]] = {
        row["project_id"]: {"open": row["open"], "firing": row["firing"]}
        for row in Incident.objects.filter(project_id__in=project_ids, resolved_at__isnull=True)
        .values("project_id")
        .annotate(open=Count("id"), firing=Count("id", filter=Q(state=IncidentState.FIRING)))
    }
    return {
        pid: AlertSummary(
            policies.get(pid, 0),
            incidents.get(pid, {}).get("open", 0),
            incidents.get(pid, {}).get("firing", 0),
        )
        for pid in project_ids
    }


def organization_alert_summaries(organization_id: int) -> dict[int, AlertSummary]:
    """alert_summaries of every project of the organization (its members may see them all)."""
    project_ids = list(Project.objects.filter(organization_id=organization_id).values_list("pk", flat=True))
    return alert_summaries(project_ids)


def incident_for_project(project: Project, incident_id: int) -> Incident:
    """The incident of this project (with its policy and who acted on it); Http404 otherwise,
    also for another project's incident: the project was scoped by get_project_for already."""
    try:
        return Incident.objects.select_related("policy", "instance", "acknowledged_by", "resolved_by").get(
            project=project, pk=incident_id
        )
    except Incident.DoesNotExist:
        raise Http404("No such incident.") from None


@dataclass(frozen=True)
class Evidence:
    """What the incident's policy matched around the moment it fired, as stored (redacted at
    ingestion): log lines for the log kinds, root spans of traces for the span kind."""

    kind: str  # "logs", "spans" or "" (the policy's kind matches no single record)
    records: list[dict[str, Any]]
    start: datetime
    end: datetime


EVIDENCE_LIMIT = 10


def _group_node(group_by: str | None, labels: dict[str, Any]) -> Node | None:
    """The search term that narrows a log query to one group of the policy (service or attribute)."""
    if not group_by or group_by not in labels:
        return None
    value = str(labels[group_by])
    if group_by == "service":
        return Equals("service", value)
    column, _, key = group_by.partition(".")
    return JsonMatch("attributes" if column == "attr" else "resource", key, value, quoted=True)


def incident_evidence(incident: Incident, limit: int = EVIDENCE_LIMIT) -> Evidence:
    """Up to `limit` records the policy matched in the window that made it fire, newest first."""
    policy = incident.policy
    end = incident.opened_at
    start = end - timedelta(seconds=max(policy.window_seconds, 60))
    spec = policy.spec
    if policy.kind in (Kind.LOG_COUNT, Kind.LOG_RATIO, Kind.NEW_PATTERN):
        try:
            node = parse(str(spec.get("query") or ("level>=warn" if policy.kind == Kind.NEW_PATTERN else "")))
        except QuerySyntaxError:
            return Evidence("", [], start, end)
        group = _group_node(spec.get("group_by"), incident.instance.labels)
        if group is not None:
            node = And((node, group)) if node is not None else group
        page = search_logs(policy.project_id, node, TimeRange(start, end + timedelta(seconds=1)), limit)
        return Evidence("logs", [dict(record) for record in page.records], start, end)
    if policy.kind == Kind.SPAN:
        labels = incident.instance.labels
        service = str(labels.get("service") or spec.get("service") or "")
        filters = TraceFilter(
            start=start,
            end=end + timedelta(seconds=1),
            q=str(labels.get("name") or spec.get("name") or ""),
            service=service,
            errors_only=spec.get("measure") == "error_ratio",
            limit=limit,
        )
        return Evidence("spans", recent_traces(policy.project_id, filters)[:limit], start, end)
    return Evidence("", [], start, end)


def policies_recent_values(policies: list[Policy]) -> dict[int, list[list[Any]]]:
    """{instance id: [[epoch seconds, value or None], ...] oldest first}: the last values the
    evaluator measured (apps.alerts.recent) for each instance of these policies (prefetched)."""
    stored = recent_values(policy.pk for policy in policies)
    found: dict[int, list[list[Any]]] = {}
    for policy in policies:
        by_key = stored.get(policy.pk, {})
        for instance in policy.instances.all():
            found[instance.pk] = by_key.get(instance.labels_key, [])
    return found
