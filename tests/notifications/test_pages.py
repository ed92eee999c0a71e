"""The org's Channels page: admins add channels (a webhook's secret shown once), send a test and
see the receiver's answer, see warnings; viewers get 403 (role matrix)."""

from __future__ import annotations

from apps.notifications.models import Channel
from tests.notifications.conftest import make_channel


def page(org, suffix=""):
    return f"/orgs/{org.pk}/channels/{suffix}"


def test_an_admin_adds_a_webhook_and_sees_its_secret_once(alice_client, org_a, receiver):
    response = alice_client.post(
        page(org_a.organization, "new/"), {"name": "ops hook", "kind": "webhook", "target": receiver.url}
    )

    channel = Channel.objects.get(name="ops hook")
    assert response.status_code == 200
    assert channel.secret in response.content.decode()
    assert channel.secret not in alice_client.get(page(org_a.organization)).content.decode()


def test_email_to_a_role_or_to_addresses(alice_client, org_a):
    alice_client.post(
        page(org_a.organization, "new/"), {"name": "admins", "kind": "email", "target": "admin"}
    )
    alice_client.post(
        page(org_a.organization, "new/"),
        {"name": "ops", "kind": "email", "target": "a@acme.test, b@acme.test"},
    )

    assert Channel.objects.get(name="admins").config == {"role": "admin"}
    assert Channel.objects.get(name="ops").config == {"addresses": ["a@acme.test", "b@acme.test"]}


def test_a_bad_target_is_shown_on_the_form(alice_client, org_a, settings):
    settings.NOTIFY_ALLOW_PRIVATE_ADDRESSES = False

    response = alice_client.post(
        page(org_a.organization, "new/"), {"name": "x", "kind": "slack", "target": "http://169.254.169.254/"}
    )

    assert response.status_code == 400
    assert "link-local" in response.content.decode()
    assert not Channel.objects.exists()


def test_send_test_shows_the_receivers_answer_and_a_failed_channel_its_warning(alice_client, org_a, receiver):
    channel = make_channel(org_a.organization, "webhook", {"url": receiver.url})
    receiver.answer(500, "kaputt")

    response = alice_client.post(page(org_a.organization, f"{channel.pk}/test/")).content.decode()

    assert "HTTP 500" in response and "kaputt" in response
    assert 'data-testid="channel-warning"' in alice_client.get(page(org_a.organization)).content.decode()


def test_delete(alice_client, org_a):
    channel = make_channel(org_a.organization, "email", {"role": "admin"})

    response = alice_client.post(page(org_a.organization, f"{channel.pk}/delete/"))

    assert response.status_code == 302
    assert not Channel.objects.exists()


def test_the_alerts_tab_says_plainly_when_alerts_reach_nobody(alice_client, bob_client, org_a):
    tab = f"/projects/{org_a.project.pk}/alerts/"

    assert 'data-testid="no-channel"' in bob_client.get(tab).content.decode()

    make_channel(org_a.organization, "email", {"role": "admin"}, is_default=True, name="Admins")
    page = alice_client.get(tab).content.decode()
    assert 'data-testid="no-channel"' not in page
    assert "Sent to Admins (Email)" in page


def test_the_alerts_tab_shows_admins_a_channels_warning(alice_client, bob_client, org_a):
    channel = make_channel(org_a.organization, "webhook", {"url": "http://127.0.0.1:9/"}, is_default=True)
    Channel.objects.filter(pk=channel.pk).update(warning="HTTP 400 after 1 attempt")
    tab = f"/projects/{org_a.project.pk}/alerts/"

    assert "HTTP 400 after 1 attempt" in alice_client.get(tab).content.decode()
    assert "HTTP 400 after 1 attempt" not in bob_client.get(tab).content.decode()
