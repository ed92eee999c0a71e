"""Channels API: create (secret once), validation, address rules, send test, rotation, audit."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook

from apps.audit.models import AuditEvent
from apps.notifications.models import Channel


def url(org, suffix=""):
    return f"/api/v1/orgs/{org.pk}/alerts/channels{suffix}"


def post(client, path, data=None):
    return client.post(path, data or {}, content_type="application/json")


def test_a_webhook_channel_shows_its_secret_once(alice_client, org_a, receiver):
    created = post(
        alice_client,
        url(org_a.organization),
        {"name": "ops", "kind": "webhook", "config": {"url": receiver.url}},
    )

    assert created.status_code == 201
    assert created.json()["secret"].startswith("whsec_")
    listed = alice_client.get(url(org_a.organization)).json()
    assert listed[0]["name"] == "ops" and "secret" not in listed[0]
    assert alice_client.get(url(org_a.organization, f"/{created.json()['id']}")).json()["has_secret"] is True
    assert AuditEvent.objects.filter(action="notifications.channel.create").exists()


def test_pagerduty_defaults_to_the_public_events_endpoint(alice_client, org_a):
    created = post(
        alice_client,
        url(org_a.organization),
        {"name": "pd", "kind": "pagerduty", "config": {"routing_key": "R1"}},
    )

    assert created.status_code == 201
    assert created.json()["config"] == {
        "routing_key": "R1",
        "events_url": "https://events.pagerduty.com/v2/enqueue",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "config": {}}, "kind"),
        ({"name": "x", "kind": "fax", "config": {}}, "kind"),
        ({"name": "", "kind": "email", "config": {"role": "admin"}}, "name"),
        ({"name": "x", "kind": "email", "config": {"addresses": ["not an address"]}}, "addresses"),
        ({"name": "x", "kind": "email", "config": {}}, "addresses"),
        ({"name": "x", "kind": "slack", "config": {"url": "ftp://example.com/x"}}, "url"),
        ({"name": "x", "kind": "pagerduty", "config": {}}, "routing_key"),
        ({"name": "x", "kind": "webhook", "config": "http://x"}, "config"),
        ({"name": "x", "kind": "webhook", "config": {"url": "http://x"}, "enabled": "yes"}, "enabled"),
        ({"name": "x", "kind": "webhook", "secret": "mine"}, "secret"),
    ],
)
def test_bad_channels_are_400_naming_the_field(alice_client, org_a, body, field):
    response = post(alice_client, url(org_a.organization), body)

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8000/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_private_loopback_and_metadata_addresses_are_refused_at_save(alice_client, org_a, settings, target):
    settings.NOTIFY_ALLOW_PRIVATE_ADDRESSES = False

    response = post(
        alice_client, url(org_a.organization), {"name": "x", "kind": "webhook", "config": {"url": target}}
    )

    assert response.status_code == 400
    assert "address" in response.json()["error"]["details"]["url"]
    assert not Channel.objects.exists()


def test_send_test_delivers_a_marked_message_and_shows_the_answer(alice_client, org_a, receiver):
    receiver.answer(200, "thanks")
    channel = post(
        alice_client,
        url(org_a.organization),
        {"name": "ops", "kind": "webhook", "config": {"url": receiver.url}},
    ).json()

    answer = post(alice_client, url(org_a.organization, f"/{channel['id']}/test")).json()

    assert answer["delivered"] is True
    assert answer["attempt"]["status_code"] == 200
    assert answer["attempt"]["response"] == "thanks"
    (request,) = receiver.requests
    body = Webhook(channel["secret"]).verify(request.body, request.headers)
    assert body["type"] == "test"
    log = alice_client.get(url(org_a.organization, f"/{channel['id']}/deliveries")).json()
    assert log[0]["event"] == "test" and log[0]["attempts"][0]["status_code"] == 200


def test_a_failing_test_shows_the_receivers_error_and_is_not_retried(alice_client, org_a, receiver):
    receiver.answer(503, "maintenance")
    channel = post(
        alice_client,
        url(org_a.organization),
        {"name": "ops", "kind": "webhook", "config": {"url": receiver.url}},
    ).json()

    answer = post(alice_client, url(org_a.organization, f"/{channel['id']}/test")).json()

    assert answer["delivered"] is False
    assert answer["attempt"]["status_code"] == 503
    assert answer["attempt"]["response"] == "maintenance"
    assert answer["attempt"]["outcome"] == "failed"


def test_after_rotation_both_secrets_verify(alice_client, org_a, receiver):
    channel = post(
        alice_client,
        url(org_a.organization),
        {"name": "ops", "kind": "webhook", "config": {"url": receiver.url}},
    ).json()
    new_secret = post(alice_client, url(org_a.organization, f"/{channel['id']}/rotate-secret")).json()[
        "secret"
    ]

    post(alice_client, url(org_a.organization, f"/{channel['id']}/test"))

    (request,) = receiver.requests
    assert new_secret != channel["secret"]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(channel["secret"]).verify(request.body, request.headers)
    Webhook(new_secret).verify(request.body, request.headers)
    assert AuditEvent.objects.filter(action="notifications.channel.rotate_secret").exists()


def test_patch_and_delete_are_audited(alice_client, org_a):
    channel = post(
        alice_client, url(org_a.organization), {"name": "ops", "kind": "email", "config": {"role": "admin"}}
    ).json()

    changed = alice_client.patch(
        url(org_a.organization, f"/{channel['id']}"), {"name": "oncall"}, content_type="application/json"
    )
    deleted = alice_client.delete(url(org_a.organization, f"/{channel['id']}"))

    assert changed.json()["name"] == "oncall"
    assert deleted.status_code == 204
    change = AuditEvent.objects.get(action="notifications.channel.change")
    assert change.changes == {"before": {"name": "ops"}, "after": {"name": "oncall"}}
    assert AuditEvent.objects.filter(action="notifications.channel.delete").exists()
