"""Monthly statements kept as rows and downloadable as CSV; the `invoice` provider behind the
provider interface, with a signed webhook endpoint tested with locally signed events."""

import base64
from datetime import UTC, datetime

import orjson
import pytest
import time_machine
from django.urls import reverse
from standardwebhooks import Webhook

from apps.audit.models import AuditEvent
from apps.billing import providers
from apps.billing.models import Statement
from apps.billing.statements import close_previous_period
from tests.billing.conftest import put_on_plan, usage_of
from tests.telemetry import post_json

pytestmark = pytest.mark.django_db

SECRET = "whsec_" + base64.b64encode(b"a local test secret, 32 bytes!!!").decode()


def december_usage(org_a):
    put_on_plan(org_a.organization, events_per_month=10, overage="allow")
    with time_machine.travel(datetime(2026, 12, 20, tzinfo=UTC), tick=False):
        assert post_json("/api/v1/ingest/logs", [{"message": "x"}] * 14, org_a.ingest_key).status_code == 200
        post_json("/api/v1/ingest/logs", [{"timestamp": "bad"}] * 2, org_a.ingest_key)
        usage_of(org_a.organization)


def test_a_closed_period_gets_one_statement_with_its_overage_reported_once(org_a):
    december_usage(org_a)
    with time_machine.travel(datetime(2027, 1, 1, 1, tzinfo=UTC), tick=False):
        assert close_previous_period(datetime.now(UTC)) == 1
        assert close_previous_period(datetime.now(UTC)) == 0
    statement = Statement.objects.get(organization=org_a.organization)
    assert (statement.period, statement.plan_slug, statement.accepted, statement.overage) == (
        "202612",
        "tiny",
        14,
        4,
    )
    assert statement.dropped == {"invalid": 2}
    assert statement.provider_ref == f"statement-{org_a.organization.pk}-202612" and statement.reported_at


def test_owners_download_the_statements_as_csv_and_viewers_may_not(org_a, alice_client, bob_client):
    december_usage(org_a)
    with time_machine.travel(datetime(2027, 1, 2, tzinfo=UTC), tick=False):
        close_previous_period(datetime.now(UTC))
    url = reverse("billing:statements-csv", args=[org_a.organization.pk])
    response = alice_client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("period,plan,events_included,accepted,overage,dropped_by_reason")
    assert lines[1].startswith("2026-12,tiny,10,14,4,invalid=2,")
    assert bob_client.get(url).status_code == 403


def signed(event, secret=SECRET):
    body = orjson.dumps(event).decode()
    now = datetime.now(UTC)
    signature = Webhook(secret).sign("msg_1", now, body)
    return body, {
        "HTTP_WEBHOOK_ID": "msg_1",
        "HTTP_WEBHOOK_TIMESTAMP": str(int(now.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": signature,
    }


def test_a_signed_provider_webhook_marks_a_statement_paid_and_a_bad_signature_changes_nothing(
    org_a, client, settings
):
    settings.BILLING_WEBHOOK_SECRET = SECRET
    december_usage(org_a)
    with time_machine.travel(datetime(2027, 1, 2, tzinfo=UTC), tick=False):
        close_previous_period(datetime.now(UTC))
    event = {"type": "statement.paid", "data": {"organization_id": org_a.organization.pk, "period": "202612"}}
    other_secret = "whsec_" + base64.b64encode(b"somebody else's secret, 32 bytes").decode()
    body, headers = signed(event, other_secret)
    refused = client.post("/api/v1/billing/webhook", body, content_type="application/json", **headers)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_webhook"
    assert Statement.objects.get(organization=org_a.organization).paid_at is None
    body, headers = signed(event)
    response = client.post("/api/v1/billing/webhook", body, content_type="application/json", **headers)
    assert response.status_code == 200 and response.json() == {"result": "statement marked paid"}
    assert Statement.objects.get(organization=org_a.organization).paid_at is not None


def test_a_provider_webhook_can_change_the_plan_and_the_change_is_audited(org_a, client, settings):
    settings.BILLING_WEBHOOK_SECRET = SECRET
    body, headers = signed(
        {"type": "subscription.changed", "data": {"organization_id": org_a.organization.pk, "plan": "team"}}
    )
    assert (
        client.post("/api/v1/billing/webhook", body, content_type="application/json", **headers).status_code
        == 200
    )
    org_a.organization.subscription.refresh_from_db()
    assert org_a.organization.subscription.plan.slug == "team"
    event = AuditEvent.objects.get(action="subscription.change", organization_id=org_a.organization.pk)
    assert event.changes["via"] == "provider webhook"


def test_the_provider_is_chosen_by_setting_and_an_unknown_one_is_a_clear_error(settings):
    assert providers.get().name == "invoice"
    settings.BILLING_PROVIDER = "stripe"
    with pytest.raises(LookupError, match="BILLING_PROVIDER names no provider: 'stripe'"):
        providers.get()


def test_a_signed_body_that_is_not_json_is_refused_not_a_500(client, settings):
    settings.BILLING_WEBHOOK_SECRET = SECRET
    now = datetime.now(UTC)
    headers = {
        "HTTP_WEBHOOK_ID": "msg_2",
        "HTTP_WEBHOOK_TIMESTAMP": str(int(now.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": Webhook(SECRET).sign("msg_2", now, "not json"),
    }
    response = client.post("/api/v1/billing/webhook", "not json", content_type="application/json", **headers)
    assert response.status_code == 401


def test_without_a_configured_secret_every_webhook_is_refused(client, settings):
    settings.BILLING_WEBHOOK_SECRET = ""
    body, headers = signed({"type": "statement.paid", "data": {}})
    assert (
        client.post("/api/v1/billing/webhook", body, content_type="application/json", **headers).status_code
        == 401
    )
