"""Writes to plans and subscriptions. The admin, the `plans` command and the UI call these, so
each change is audited in one place, inside the transaction that makes it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps import audit
from apps.billing import state
from apps.billing.models import Overage, Plan, Subscription
from apps.projects.models import Organization


class PlanError(Exception):
    """A plan operation that cannot be done as asked (unknown slug, bad value)."""


def subscription_start(organization: Organization) -> Subscription:
    """Put a new organization on the default plan (sign-up, "new organization", bootstrap)."""
    plan = state.default_plan()
    subscription, _ = Subscription.objects.get_or_create(organization=organization, defaults={"plan": plan})
    return subscription


def subscription_change(
    organization: Organization, plan: Plan, actor: Any = None, via: str = ""
) -> Subscription:
    """Move the organization to `plan`. A downgrade deletes nothing: what exists stays, and only
    new additions beyond the new plan's limits are refused (apps.billing.limits)."""
    state.ensure_subscription(organization.pk)  # an organization made before billing: on the default
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update().select_related("plan").get(organization=organization)
        )
        before = {"plan": subscription.plan.slug}
        subscription.plan = plan
        subscription.changed_at = timezone.now()
        subscription.save(update_fields=["plan", "changed_at"])
        audit.record(
            "subscription.change",
            actor=actor,
            organization=organization,
            target=subscription,
            target_repr=f"{organization.name} → {plan.slug}",
            before=before,
            after={"plan": plan.slug, **plan.limits()},
            extra={"via": via} if via else None,
        )
    state.forget()
    return subscription


def plan_create(slug: str, name: str, actor: Any = None, **limits: Any) -> Plan:
    if Plan.objects.filter(slug=slug).exists():
        raise PlanError(f"A plan with slug “{slug}” already exists.")
    if limits.get("overage", Overage.BLOCK) not in Overage.values:
        raise PlanError(f"Overage must be one of: {', '.join(Overage.values)}.")
    with transaction.atomic():
        plan = Plan.objects.create(slug=slug, name=name or slug.title(), **limits)
        audit.record("plan.create", actor=actor, target=plan, target_repr=slug, after=plan.limits())
    return plan
