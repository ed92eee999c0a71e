"""Sentry categories are metered and held to the plan's quota through billing (issue 20 §2): events
under "error", each accepted event once (a retried event_id is not billed twice), and a plan
whose quota is used up refuses errors alone, with the Sentry rate-limit header for them."""

from __future__ import annotations

import uuid

import orjson
import pytest
from django.db import connection

from apps.errors.ingest import SentryRequest, handle
from apps.errors.models import Event
from tests.billing.conftest import fresh_meter, put_on_plan, usage_of  # noqa: F401
from tests.billing.test_metering import DEAD_REDIS

pytestmark = pytest.mark.usefixtures("fresh_meter")


def post(dsn_key, *items: tuple[str, dict]) -> object:
    body = b"{}\n" + b"".join(
        orjson.dumps({"type": kind}) + b"\n" + orjson.dumps(p) + b"\n" for kind, p in items
    )
    query = f"sentry_key={dsn_key.public_key}"
    return handle(SentryRequest("POST", dsn_key.project_id, "envelope", query, "", "", str(len(body)), body))


def event(event_id: str | None = None) -> tuple[str, dict]:
    return "event", {"event_id": event_id or uuid.uuid4().hex, "message": "queue full"}


def test_events_are_metered_as_errors_and_a_retry_is_billed_once(dsn_key, org_a):
    retried = uuid.uuid4().hex

    assert post(dsn_key, event(), event(retried)).status == 200
    assert post(dsn_key, event(retried)).status == 200  # the SDK's retry after a timeout

    assert usage_of(org_a.organization) == {("error", "accepted"): 2}
    assert Event.objects.count() == 2


def test_a_used_up_quota_refuses_errors_with_the_sentry_header(dsn_key, org_a):
    put_on_plan(org_a.organization, events_per_month=2, overage="block")
    assert post(dsn_key, event(), event()).status == 200

    refused = post(dsn_key, event())

    assert refused.status == 429
    assert refused.headers["X-Sentry-Rate-Limits"].split(":")[1:] == ["error", "key"]
    assert "quota" in orjson.loads(refused.body)["error"]["message"]
    assert Event.objects.count() == 2
    assert usage_of(org_a.organization) == {("error", "accepted"): 2, ("error", "quota"): 1}


def test_with_redis_down_events_are_stored_and_counted_from_the_write_path(dsn_key, org_a, settings):
    retried = uuid.uuid4().hex
    settings.REDIS_URL = DEAD_REDIS

    assert post(dsn_key, event(), event(retried)).status == 200
    assert post(dsn_key, event(retried)).status == 200  # a retry stores nothing and counts nothing

    assert Event.objects.count() == 2
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT signal, sum(count) FROM billing_usageday"
            " WHERE organization_id = %s AND outcome = 'accepted' GROUP BY signal",
            [org_a.organization.pk],
        )
        assert cursor.fetchall() == [("error", 2)]
