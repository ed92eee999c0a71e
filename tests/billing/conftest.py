"""Billing test helpers: plans made to measure, the usage as PostgreSQL holds it after a flush."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection

from apps.billing import quota, state, usage
from apps.billing.models import Plan
from apps.billing.seed import PLANS
from apps.billing.services import subscription_change
from apps.projects.models import Organization
from tests.ingestion.conftest import vigil_server  # noqa: F401 - the real server fixture
from tests.notifications.conftest import receiver  # noqa: F401 - a local webhook receiver


@pytest.fixture(autouse=True)
def _seeded_plans(request):
    """Transactional tests elsewhere flush every table, seeded plans included: put them back."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None:
        request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
        for fields in PLANS:
            Plan.objects.get_or_create(slug=fields["slug"], defaults=fields)
    quota.meter.reset()
    yield
    quota.meter.reset()
    state.forget()


@pytest.fixture
def fresh_meter():
    """For tests outside tests/billing that meter: no counts or cached plan state from another
    test (`@pytest.mark.usefixtures("fresh_meter")`)."""
    quota.meter.reset()
    state.forget()
    yield
    quota.meter.reset()
    state.forget()


def put_on_plan(organization: Organization, slug: str = "tiny", **fields: Any) -> Plan:
    defaults = {"name": slug.title(), "events_per_month": 10, "overage": "block"}
    plan, _ = Plan.objects.update_or_create(slug=slug, defaults={**defaults, **fields})
    subscription_change(organization, plan)
    return plan


def usage_of(organization: Organization) -> dict[tuple[str, str], int]:
    """{(signal, outcome): count} after flushing the Redis counters."""
    usage.flush()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT signal, outcome, sum(count) FROM billing_usageday WHERE organization_id = %s"
            " GROUP BY signal, outcome",
            [organization.pk],
        )
        return {(signal, outcome): int(n) for signal, outcome, n in cursor.fetchall() if n}


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)
