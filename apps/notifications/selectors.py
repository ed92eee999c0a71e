"""Reads of notifications: whether a project's alerts can reach anyone, what is held back now
(the Alerts tab and incident pages mark it), and what the status card and channel list show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from apps.alerts.models import AlertInstance, Incident, State
from apps.notifications.models import Channel, Delivery, DeliveryState, Route
from apps.notifications.silences import Quieting
from apps.projects.models import Project


def reachable_channels(project: Project) -> list[Channel]:
    """Enabled channels that some alert of the project could be sent to: the organization's
    default channels and those of its routes. Empty means: alerts fire, nobody is told."""
    routed = Route.objects.filter(organization_id=project.organization_id).values("channel_id")
    return list(
        Channel.objects.filter(organization_id=project.organization_id, enabled=True).filter(pk__in=routed)
        | Channel.objects.filter(organization_id=project.organization_id, enabled=True, is_default=True)
    )


def channels_with_warnings(organization_id: int) -> list[Channel]:
    return list(Channel.objects.filter(organization_id=organization_id).exclude(warning=""))


@dataclass(frozen=True)
class QuietReasons:
    """Why alerts of a project are held back now: "silenced", "maintenance" or "inhibited", per
    open incident and per firing or pending instance (those not held back are absent)."""

    incidents: dict[int, str]
    instances: dict[int, str]


def quiet_reasons(project: Project, now: datetime) -> QuietReasons:
    """The same test the dispatcher applies to a transition (silences.Quieting) on the labels it
    would carry (the policy's merged with the group's), for what is open now."""
    quieting = Quieting(project.pk, now)
    instances: dict[int, str] = {}
    for instance in AlertInstance.objects.filter(
        Q(state__in=[State.FIRING, State.PENDING]) | Q(incident__isnull=False), policy__project=project
    ).select_related("policy"):
        policy = instance.policy
        reason = quieting.reason(policy.pk, policy.kind, {**policy.labels, **instance.labels})
        if reason:
            instances[instance.pk] = reason
    incidents: dict[int, str] = {}
    open_incidents = Incident.objects.filter(project=project, resolved_at__isnull=True)
    for incident in open_incidents.select_related("policy"):
        reason = quieting.reason(incident.policy_id, incident.policy.kind, incident.labels)
        if reason:
            incidents[incident.pk] = reason
    return QuietReasons(incidents, instances)


FAILED_SHOWN = 5


def failed_deliveries(project: Project, limit: int = FAILED_SHOWN) -> list[Delivery]:
    """The project's last deliveries given up on (the Alerts tab's notifications card)."""
    return list(
        Delivery.objects.filter(project=project, state=DeliveryState.FAILED)
        .select_related("channel")
        .order_by("-id")[:limit]
    )
