"""Reads other apps may use (e.g. the Alerts tab): whether a project's alerts can reach anyone."""

from __future__ import annotations

from apps.notifications.models import Channel, Route
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
