"""Channels and routes in /manage/: scoped to the admin's organizations, written through services."""

from __future__ import annotations

from apps.audit.models import AuditEvent
from apps.notifications.models import Channel, Route
from apps.notifications.selectors import reachable_channels
from tests.notifications.conftest import make_channel, make_policy


def test_an_org_admin_creates_a_webhook_channel_in_manage_and_sees_its_secret_once(
    alice_client, org_a, receiver
):
    response = alice_client.post(
        "/manage/notifications/channel/add/",
        {
            "organization": org_a.organization.pk,
            "name": "hook",
            "kind": "webhook",
            "config": f'{{"url": "{receiver.url}"}}',
            "send_resolved": "on",
            "enabled": "on",
        },
    )

    assert response.status_code == 200
    channel = Channel.objects.get(name="hook")
    assert channel.secret in response.content.decode()
    assert (
        alice_client.get(f"/manage/notifications/channel/{channel.pk}/change/")
        .content.decode()
        .count(channel.secret)
        == 0
    )
    assert AuditEvent.objects.filter(action="notifications.channel.create").exists()


def test_manage_refuses_a_private_url_with_the_reason(alice_client, org_a, settings):
    settings.NOTIFY_ALLOW_PRIVATE_ADDRESSES = False

    response = alice_client.post(
        "/manage/notifications/channel/add/",
        {
            "organization": org_a.organization.pk,
            "name": "hook",
            "kind": "slack",
            "config": '{"url": "http://10.0.0.1/x"}',
        },
    )

    assert response.status_code == 200
    assert "private" in response.content.decode()
    assert not Channel.objects.exists()


def test_a_route_is_made_in_manage_from_the_orgs_own_channels(alice_client, org_a, org_b):
    ours = make_channel(org_a.organization, "email", {"role": "admin"}, name="Ours")
    make_channel(org_b.organization, "email", {"role": "admin"}, name="Theirs")
    form = alice_client.get("/manage/notifications/route/add/").content.decode()
    assert "Ours (Email)" in form and "Theirs" not in form

    response = alice_client.post(
        "/manage/notifications/route/add/",
        {"organization": org_a.organization.pk, "channel": ours.pk, "priorities": '["P1"]', "labels": "{}"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Route.objects.get().channel == ours


def test_a_project_without_route_or_default_channel_reaches_nobody(org_a):
    assert reachable_channels(org_a.project) == []
    channel = make_channel(org_a.organization, "email", {"role": "admin"})
    assert reachable_channels(org_a.project) == []
    Route.objects.create(organization=org_a.organization, channel=channel, policy=make_policy(org_a.project))
    assert reachable_channels(org_a.project) == [channel]
