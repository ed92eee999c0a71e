"""Monthly statements: per organization and closed period, the plan, what was accepted, what was
dropped by reason, and the overage past the plan's quota. Kept as rows, downloadable as CSV,
and reported to the billing provider with an idempotency key."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction

from apps.billing import providers, state
from apps.billing.models import Statement, Subscription

USAGE_OF_PERIOD = """
SELECT organization_id, outcome, sum(count) FROM billing_usageday
WHERE day >= %s AND day < %s GROUP BY organization_id, outcome
"""


def close_previous_period(now: datetime) -> int:
    """Make the statements of the period before `now`'s (once each), then report the unreported
    ones. Safe to run every day and twice: the (organization, period) key is unique."""
    previous_end, _ = state.period_bounds(now)
    start, end = state.period_bounds(previous_end - timedelta(days=1))
    period = state.period_key(start)
    with connection.cursor() as cursor:
        cursor.execute(USAGE_OF_PERIOD, [start.date(), end.date()])
        rows = cursor.fetchall()
    usage: dict[int, dict[str, int]] = {}
    for organization_id, outcome, count in rows:
        usage.setdefault(organization_id, {})[outcome] = int(count)
    made = 0
    plans = {s.organization_id: s.plan for s in Subscription.objects.select_related("plan")}
    for organization_id, outcomes in usage.items():
        plan = plans.get(organization_id)
        if plan is None:
            continue  # the organization is gone
        accepted = outcomes.pop("accepted", 0)
        try:
            with transaction.atomic():
                Statement.objects.create(
                    organization_id=organization_id,
                    period=period,
                    plan_slug=plan.slug,
                    plan_name=plan.name,
                    events_included=plan.events_per_month,
                    accepted=accepted,
                    dropped=outcomes,
                    overage=max(0, accepted - plan.events_per_month),
                )
            made += 1
        except IntegrityError:
            pass  # made by an earlier run
    provider = providers.get()
    for statement in Statement.objects.filter(reported_at__isnull=True):
        provider.report_usage(statement, f"statement-{statement.organization_id}-{statement.period}")
    return made


def statements_csv(organization_id: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "period",
            "plan",
            "events_included",
            "accepted",
            "overage",
            "dropped_by_reason",
            "reported_at",
            "paid_at",
        ]
    )
    for s in Statement.objects.filter(organization_id=organization_id).order_by("period"):
        dropped = ";".join(f"{reason}={count}" for reason, count in sorted(s.dropped.items()))
        writer.writerow(
            [
                f"{s.period[:4]}-{s.period[4:]}",
                s.plan_slug,
                s.events_included,
                s.accepted,
                s.overage,
                dropped,
                s.reported_at.isoformat() if s.reported_at else "",
                s.paid_at.isoformat() if s.paid_at else "",
            ]
        )
    return out.getvalue()
