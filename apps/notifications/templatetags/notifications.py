"""`{% notification_status project %}`: on the project's Alerts tab, whether its alerts reach
anyone, channel warnings, and the last failed deliveries — so a silent failure is seen where
alerts are looked at, without the alerts app reading notification tables itself."""

from __future__ import annotations

from typing import Any

from django import template

from apps.notifications.selectors import channels_with_warnings, failed_deliveries, reachable_channels
from apps.projects.models import Project

register = template.Library()


@register.inclusion_tag("notifications/status_card.html")
def notification_status(project: Project, can_admin: bool = False) -> dict[str, Any]:
    return {
        "project": project,
        "can_admin": can_admin,
        "channels": reachable_channels(project),
        "warnings": channels_with_warnings(project.organization_id),
        "failed": failed_deliveries(project),
    }
