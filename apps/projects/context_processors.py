from typing import Any

from django.http import HttpRequest

from apps.projects.models import Organization


def organizations(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's organizations, for the org switcher in the page header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"my_organizations": Organization.objects.for_member(user).order_by("name")}
