from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from apps.billing.notices import current_notice
from apps.billing.spikes import recent_episodes

register = template.Library()


@register.inclusion_tag("billing/banner.html")
def usage_banner(organization: Any) -> dict[str, Any]:
    """The organization's usage notice of this period and its spike episodes of the last 24 hours,
    on every page of the organization."""
    if organization is None or not getattr(organization, "pk", None):
        return {}
    now = timezone.now()
    episodes = recent_episodes(organization, now)
    return {
        "notice": current_notice(organization, now),
        "spiked_projects": len({episode.project_id for episode in episodes}),
        "latest_spike": episodes[0] if episodes else None,
        "organization": organization,
    }
