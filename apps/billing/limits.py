"""Plan limits where they bite: seats, projects, API keys per project, alert policies per project.

Each `check_*` raises LimitReached (with a message naming the limit and the plan) when one more
would exceed the organization's plan, and returns otherwise. Callers run it inside the transaction
that adds the thing, after `lock_organization`, so two concurrent additions cannot both squeeze
under the limit. A downgrade never deletes anything: what exists stays, only additions are refused.

Alert policies: every policy of a project counts, the default rule pack's and heartbeats' too
(they are ordinary, editable policies). The alerts app calls `check_policy_limit(project, existing,
adding)` inside the transaction that creates them; the rule pack asks for all its rules at once,
so it is added whole or not at all — never cut short by the limit.

LimitReached is a Conflict (apps.api.errors): the API answers 409 `plan_limit` with the message,
the admin sites show it as an error message.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from apps.api.errors import Conflict
from apps.billing import state
from apps.billing.models import Plan
from apps.projects.models import ApiKey, Invitation, Membership, Organization, Project


class LimitReached(Conflict):
    code = "plan_limit"

    def __init__(self, message: str, limit: str, allowed: int, plan: str) -> None:
        super().__init__(message, {"limit": limit, "allowed": allowed, "plan": plan})
        self.limit = limit
        self.allowed = allowed
        self.plan = plan


def plan_of(organization_id: int) -> Plan:
    """The organization's plan, read fresh (not the ingestion cache): limits are checked on writes."""
    subscription = state.ensure_subscription(organization_id)
    if subscription is None:
        raise LimitReached("This organization no longer exists.", "organization", 0, "")
    return subscription.plan


def lock_organization(organization_id: int) -> None:
    """Serialise additions within one organization (call inside a transaction)."""
    Organization.objects.select_for_update().filter(pk=organization_id).first()


def _refuse_beyond(plan: Plan, field: str, what: str, current: int, adding: str, count: int = 1) -> None:
    allowed = getattr(plan, field)
    if allowed is not None and current + count > allowed:
        more = "" if count == 1 else f" and this adds {count}"
        raise LimitReached(
            f"The {plan.name} plan allows {allowed} {what}; you have {current}{more}. "
            f"Move to a larger plan to {adding}.",
            field,
            allowed,
            plan.slug,
        )


def check_seat_limit(organization: Organization, inviting: str | None = None) -> None:
    """Seats are members plus open invitations (an invitation reserves its seat). `inviting`: the
    address being (re-)invited, whose own open invitation it replaces."""
    plan = plan_of(organization.pk)
    members = Membership.objects.filter(organization=organization).count()
    pending = Invitation.objects.filter(
        organization=organization, accepted_at__isnull=True, expires_at__gt=timezone.now()
    )
    if inviting is not None:
        pending = pending.exclude(Q(email__iexact=inviting))
        _refuse_beyond(plan, "seats", "seats", members + pending.count(), "invite more people")
    else:  # accepting: the accepted invitation's own seat is counted by the membership it becomes
        _refuse_beyond(plan, "seats", "seats", members, "add members")


def check_project_limit(organization: Organization) -> None:
    plan = plan_of(organization.pk)
    _refuse_beyond(
        plan,
        "projects",
        "projects",
        Project.objects.filter(organization=organization).count(),
        "create more projects",
    )


def check_api_key_limit(project: Project) -> None:
    plan = plan_of(project.organization_id)
    active = ApiKey.objects.active().filter(project=project).count()
    _refuse_beyond(
        plan,
        "api_keys_per_project",
        "active API keys per project",
        active,
        "create more keys (or revoke one)",
    )


def check_policy_limit(project: Project, existing: int, adding: int = 1) -> None:
    """For the alerts app: `existing` is the number of alert policies the project has now,
    `adding` how many are about to be created together (all of them fit, or none is allowed)."""
    plan = plan_of(project.organization_id)
    _refuse_beyond(
        plan,
        "alert_policies_per_project",
        "alert policies per project",
        existing,
        "create more alert policies (or delete some)",
        adding,
    )
