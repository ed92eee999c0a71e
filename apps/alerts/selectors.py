"""Reads of alerts for other apps' pages (the organization home's incidents cell)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from apps.alerts.models import Incident, IncidentState, Policy


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
