"""Usage notices at 50/80/100 % of the quota: one email per threshold and period to owners and
admins, a banner on every page of the organization, and a fresh start each period."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from apps.billing.models import UsageNotice
from apps.billing.tasks import flush_usage
from apps.projects.models import Role
from tests.billing.conftest import put_on_plan
from tests.conftest import make_member
from tests.telemetry import post_json

pytestmark = pytest.mark.django_db


def send(org, n):
    assert post_json("/api/v1/ingest/logs", [{"message": "x"}] * n, org.ingest_key).status_code == 200
    flush_usage()


def test_each_threshold_is_emailed_once_per_period_to_owners_and_admins(org_a):
    make_member(org_a.organization, "adam@acme.test", Role.ADMIN)
    make_member(org_a.organization, "vera@acme.test", Role.VIEWER)
    put_on_plan(org_a.organization, events_per_month=100, overage="allow")
    with time_machine.travel(datetime(2026, 12, 30, 12, tzinfo=UTC), tick=False):
        send(org_a, 40)
        assert mail.outbox == []
        send(org_a, 15)  # 55 %
        send(org_a, 1)
        flush_usage()
        assert [m.subject for m in mail.outbox] == ["Acme has used 50 % of its monthly events on Vigil"]
        assert sorted(mail.outbox[0].to) == ["adam@acme.test", "alice@acme.test"]
        send(org_a, 50)  # 106 %: 80 and 100 at once
        assert [m.subject.split(" used ")[1][:5] for m in mail.outbox] == ["50 % ", "80 % ", "100 %"]
    with time_machine.travel(datetime(2027, 1, 1, 0, 5, tzinfo=UTC), tick=False):  # a new period
        send(org_a, 10)
        assert len(mail.outbox) == 3
        send(org_a, 45)
        assert mail.outbox[-1].subject == "Acme has used 50 % of its monthly events on Vigil"
    assert list(UsageNotice.objects.values_list("period", "threshold").order_by("period", "threshold")) == [
        ("202612", 50),
        ("202612", 80),
        ("202612", 100),
        ("202701", 50),
    ]


def test_the_banner_shows_on_the_organization_s_pages_for_the_period(org_a, alice_client, bob_client):
    put_on_plan(org_a.organization, events_per_month=10, overage="block")
    page = alice_client.get(reverse("projects:organization", args=[org_a.organization.pk])).content.decode()
    assert 'data-testid="usage-banner"' not in page
    send(org_a, 8)
    for client in (alice_client, bob_client):
        for url in (
            reverse("projects:organization", args=[org_a.organization.pk]),
            reverse("dashboards:overview", args=[org_a.project.pk]),
        ):
            html = client.get(url).content.decode()
            assert "Acme has used 80 % of its monthly events" in html, url


def test_webhook_channels_get_one_signed_usage_threshold_event_per_threshold_and_period(
    org_a, org_b, receiver, settings
):
    from standardwebhooks.webhooks import Webhook

    from apps.notifications.channels import channel_create
    from apps.notifications.tasks import send_deliveries

    settings.NOTIFY_ALLOW_PRIVATE_ADDRESSES = True  # the receiver listens on 127.0.0.1
    channel = channel_create(
        org_a.organization,
        {"name": "billing hook", "kind": "webhook", "config": {"url": f"{receiver.url}/hook"}},
        actor=None,
    )
    channel_create(
        org_b.organization,
        {"name": "other tenant", "kind": "webhook", "config": {"url": f"{receiver.url}/other"}},
        actor=None,
    )
    put_on_plan(org_a.organization, events_per_month=100, overage="allow")
    with time_machine.travel(datetime(2026, 12, 30, 12, tzinfo=UTC), tick=False):
        send(org_a, 60)
        flush_usage()  # again: nothing new
        send_deliveries()
        assert [r.path for r in receiver.requests] == ["/hook"]
        request = receiver.requests[0]
        event = Webhook(channel.secret).verify(request.body, request.headers)
        assert event["type"] == "usage.threshold"
        assert event["data"] == {
            "organization_id": org_a.organization.pk,
            "period": "2026-12",
            "threshold": 50,
            "used": 60,
            "limit": 100,
            "plan": "Tiny",
            "resets_at": "2027-01-01T00:00:00Z",
        }
        send(org_a, 50)  # 110 %: 80 and 100
        send_deliveries()
        assert [r.json()["data"]["threshold"] for r in receiver.requests] == [50, 80, 100]
    with time_machine.travel(datetime(2027, 1, 2, tzinfo=UTC), tick=False):  # a new period
        send(org_a, 55)
        send_deliveries()
        assert [r.json()["data"]["period"] for r in receiver.requests][-1] == "2027-01"
        assert len(receiver.requests) == 4
