from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from apps.billing.notices import current_notice

register = template.Library()


@register.inclusion_tag("billing/banner.html")
def usage_banner(organization: Any) -> dict[str, Any]:
    """The organization's usage notice of this period, on every page of the organization."""
    if organization is None or not getattr(organization, "pk", None):
        return {}
    return {"notice": current_notice(organization, timezone.now()), "organization": organization}
