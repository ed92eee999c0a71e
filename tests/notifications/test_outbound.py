"""Outbound safety at connect time: the resolved address is checked when connecting (not only at
save), redirects are never followed. NOTIFY_ALLOW_PRIVATE_ADDRESSES is off in these tests unless
a local receiver is needed as the first hop."""

from __future__ import annotations

import httpx
import pytest

from apps.notifications import outbound
from apps.notifications.models import Attempt, DeliveryState
from apps.notifications.sender import outcome_of
from tests.notifications.conftest import make_channel


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/x",
        "http://localhost:{port}/x",
        "http://10.0.0.1:{port}/x",
        "http://169.254.169.254/x",
    ],
)
def test_the_connection_itself_refuses_private_addresses(settings, receiver, target):
    settings.NOTIFY_ALLOW_PRIVATE_ADDRESSES = False
    url = target.format(port=receiver.server.server_address[1])

    with outbound._client() as client, pytest.raises(httpx.ConnectError, match="private"):
        client.post(url, content=b"{}")

    assert receiver.requests == []


def test_a_channel_saved_while_allowed_is_refused_once_the_rule_is_on(org_a, settings, receiver, alice):
    channel = make_channel(org_a.organization, "webhook", {"url": receiver.url})
    settings.NOTIFY_ALLOW_PRIVATE_ADDRESSES = False

    from apps.notifications.channels import channel_test

    attempt = channel_test(channel, alice)

    assert receiver.requests == []
    assert attempt.status_code is None
    assert "127.0.0.1" in attempt.error
    assert attempt.delivery.state == DeliveryState.FAILED


def test_a_redirect_to_a_private_address_is_not_followed(org_a, receiver, alice):
    receiver.answer(302, "", {"Location": "http://169.254.169.254/latest/meta-data/"})
    channel = make_channel(org_a.organization, "webhook", {"url": receiver.url})

    from apps.notifications.channels import channel_test

    attempt = channel_test(channel, alice)

    assert len(receiver.requests) == 1
    assert attempt.status_code == 302
    assert "not followed" in attempt.error
    assert Attempt.objects.count() == 1


def test_redirects_are_permanent_failures():
    assert outcome_of(outbound.Answer(302, error="Redirect not followed.")) == "failed"
    assert outcome_of(outbound.Answer(503)) == "retry"
    assert outcome_of(outbound.Answer(429)) == "retry"
    assert outcome_of(outbound.Answer(404)) == "failed"
    assert outcome_of(outbound.Answer(None, error="timeout")) == "retry"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "100.64.0.1",
        "0.0.0.0",
        "fd00:ec2::254",
    ],
)
def test_forbidden_addresses(address):
    assert outbound.is_forbidden_address(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "1.1.1.1"])
def test_public_addresses_are_allowed(address):
    assert not outbound.is_forbidden_address(address)
