"""The scoping helpers: the only way views load tenant objects.

Each helper takes the requester (session user or API key) and an id from the URL, and either
returns the object with the requester's membership or raises Http404 — the same answer for
"does not exist" and "belongs to someone else", so other tenants cannot even be detected.
Once the object is known to be visible, lacking the role for the action is 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from apps.projects.authentication import KeyIdentity
from apps.projects.models import KeyScope, Membership, Organization, Project, Role


@dataclass(frozen=True)
class Access:
    """Who is asking: a member (with their membership) or a project key."""

    membership: Membership | None = None
    key: KeyIdentity | None = None

    @property
    def can_admin(self) -> bool:
        return self.can(Role.ADMIN)

    def can(self, need: str) -> bool:
        if self.membership is not None:
            return self.membership.can(need)
        # Read (and manage) keys read; nothing a key does counts as a member's action. What a
        # manage key may write, the APIs that accept it say (apps/alerts/api.py).
        return (
            self.key is not None
            and self.key.scope in (KeyScope.READ, KeyScope.MANAGE)
            and need == Role.VIEWER
        )

    @property
    def is_manage_key(self) -> bool:
        return self.key is not None and self.key.scope == KeyScope.MANAGE


def _request_key(request: Any) -> KeyIdentity | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, KeyIdentity) else None


def _user(request: Any) -> Any:
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated and getattr(user, "pk", None) else None


def membership_for(user: Any, organization_id: Any) -> Membership:
    try:
        return Membership.objects.select_related("organization").get(
            user=user, organization_id=int(organization_id)
        )
    except (Membership.DoesNotExist, TypeError, ValueError):
        raise Http404("No such organization.") from None


def get_organization_for(
    request: Any, organization_id: Any, need: str = Role.VIEWER
) -> tuple[Organization, Access]:
    user = _user(request)
    if user is None:
        raise Http404("No such organization.")
    membership = membership_for(user, organization_id)
    if not membership.can(need):
        raise PermissionDenied(f"This needs the {need} role or higher.")
    return membership.organization, Access(membership=membership)


def get_project_for(request: Any, project_id: Any, need: str = Role.VIEWER) -> tuple[Project, Access]:
    try:
        project_pk = int(project_id)
    except (TypeError, ValueError):
        raise Http404("No such project.") from None
    key = _request_key(request)
    if key is not None:
        if key.project_id != project_pk:
            raise Http404("No such project.")
        project = Project.objects.select_related("organization").get(api_keys__id=key.id)
        access = Access(key=key)
    else:
        user = _user(request)
        if user is None:
            raise Http404("No such project.")
        visible = (
            Project.objects.for_member(user).select_related("organization").filter(pk=project_pk).first()
        )
        if visible is None:
            raise Http404("No such project.")
        project = visible
        access = Access(membership=membership_for(user, project.organization_id))
    if not access.can(need):
        raise PermissionDenied(
            "API keys cannot do this." if access.key else f"This needs the {need} role or higher."
        )
    return project, access


def get_member_for(organization: Organization, membership_id: Any) -> Membership:
    try:
        return organization.memberships.select_related("user").get(pk=int(membership_id))
    except (Membership.DoesNotExist, TypeError, ValueError):
        raise Http404("No such member.") from None
