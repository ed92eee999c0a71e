"""Usage notices: at 50 %, 80 % and 100 % of the monthly quota, owners and admins get one email
per threshold and period, and every page of the organization shows a banner until the period ends.

Organizations with webhook channels (apps.notifications) also get a `usage.threshold` event per
notice. Run after each usage flush (apps.billing.tasks.flush_usage), from what PostgreSQL holds. The
UsageNotice row is claimed with INSERT … ON CONFLICT DO NOTHING: a second run, or two workers at
once, never send the same notice twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from apps.billing import state
from apps.billing.models import UsageNotice
from apps.notifications.events import organization_event_enqueue
from apps.projects.models import Membership, Organization, Role

logger = logging.getLogger(__name__)

THRESHOLDS = (50, 80, 100)
USAGE_BY_ORG = """
SELECT u.organization_id, sum(u.count), p.events_per_month, p.name
FROM billing_usageday u
JOIN billing_subscription s ON s.organization_id = u.organization_id
JOIN billing_plan p ON p.id = s.plan_id
WHERE u.outcome = 'accepted' AND u.day >= %s AND u.day < %s AND p.events_per_month > 0
GROUP BY u.organization_id, p.events_per_month, p.name
"""


def notify_thresholds(now: datetime) -> int:
    """Create (and email) the notices crossed this period; returns how many were new."""
    start, end = state.period_bounds(now)
    period = state.period_key(now)
    with connection.cursor() as cursor:
        cursor.execute(USAGE_BY_ORG, [start.date(), end.date()])
        rows = cursor.fetchall()
    created = 0
    for organization_id, used, limit, plan_name in rows:
        for threshold in THRESHOLDS:
            crossed = used * 100 >= limit * threshold
            if crossed and _claim(organization_id, period, threshold, int(used), int(limit), plan_name, end):
                created += 1
                _email(organization_id, period, threshold, int(used), int(limit), plan_name, end)
    return created


def _claim(
    organization_id: int, period: str, threshold: int, used: int, limit: int, plan_name: str, end: datetime
) -> bool:
    """Insert the notice once; in the same transaction, file the `usage.threshold` event for the
    organization's webhook channels (so it goes out exactly when the notice is new)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            'INSERT INTO billing_usagenotice (organization_id, period, threshold, used, "limit", created_at)'
            " SELECT %s, %s, %s, %s, %s, now()"
            " WHERE EXISTS (SELECT 1 FROM projects_organization WHERE id = %s)"
            " ON CONFLICT (organization_id, period, threshold) DO NOTHING",
            [organization_id, period, threshold, used, limit, organization_id],
        )
        if cursor.rowcount != 1:
            return False
        organization_event_enqueue(
            organization_id,
            "usage.threshold",
            f"{threshold} % of the monthly events used",
            {
                "organization_id": organization_id,
                "period": f"{period[:4]}-{period[4:]}",
                "threshold": threshold,
                "used": used,
                "limit": limit,
                "plan": plan_name,
                "resets_at": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
        return True


def owners_and_admins(organization_id: int) -> tuple[Organization, list[str]]:
    """The organization and the addresses billing mails (quota notices, spike alerts): its owners and
    admins. The id comes from metering state, never from a request."""
    organization = Organization.objects.get(pk=organization_id)
    emails = Membership.objects.filter(organization=organization, role__in=[Role.OWNER, Role.ADMIN])
    return organization, list(emails.values_list("user__email", flat=True))


def _email(
    organization_id: int, period: str, threshold: int, used: int, limit: int, plan_name: str, end: datetime
) -> None:
    organization, recipients = owners_and_admins(organization_id)
    subject = f"{organization.name} has used {threshold} % of its monthly events on Vigil"
    body = (
        f"{organization.name} has accepted {used:,} of the {limit:,} events its {plan_name} plan includes "
        f"this month ({threshold} %). The quota resets on {end:%Y-%m-%d} (UTC).\n\n"
        "What happens past the quota depends on the plan's overage rule; the Usage page of the "
        "organization shows what was accepted and what was dropped, and why."
    )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        # The banner still shows; the email is not retried (a notice must never arrive twice).
        logger.exception("usage notice email failed", extra={"organization_id": organization_id})
        return
    UsageNotice.objects.filter(organization_id=organization_id, period=period, threshold=threshold).update(
        emailed_at=timezone.now()
    )


def current_notice(organization: Organization, now: datetime) -> UsageNotice | None:
    """The highest threshold crossed this period, for the banner."""
    return (
        UsageNotice.objects.filter(organization=organization, period=state.period_key(now))
        .order_by("-threshold")
        .first()
    )
