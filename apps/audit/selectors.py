"""Reads of the audit log for one organization."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q

from apps.audit.models import AuditEvent, AuditEventQuerySet
from apps.projects.models import Organization

SIGN_IN_ACTIONS = ("user.login", "user.login_failed")


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""
    since: date | None = None
    until: date | None = None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def audit_events_for(organization: Organization, filters: AuditFilter) -> AuditEventQuerySet:
    """The organization's own events plus the sign-ins of its current members, newest first.

    Sign-ins belong to no organization, but an admin reviewing access wants to see them.
    """
    member_ids = [str(pk) for pk in organization.memberships.values_list("user_id", flat=True)]
    events = AuditEvent.objects.filter(
        Q(organization_id=organization.pk)
        | Q(
            organization_id__isnull=True,
            action__in=SIGN_IN_ACTIONS,
            target_type="user",
            target_id__in=member_ids,
        )
    )
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.actor:
        events = events.filter(
            Q(actor_email__icontains=filters.actor) | Q(actor_key_prefix__icontains=filters.actor)
        )
    if filters.since:
        events = events.filter(created_at__gte=_day_start(filters.since))
    if filters.until:
        events = events.filter(created_at__lt=_day_start(filters.until + timedelta(days=1)))
    return events.order_by("-id")


def known_actions(organization: Organization) -> list[str]:
    return sorted(
        set(
            AuditEvent.objects.filter(organization_id=organization.pk)
            .values_list("action", flat=True)
            .distinct()
        )
        | set(SIGN_IN_ACTIONS)
    )
