from datetime import UTC, datetime

import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.accounts import throttle
from apps.audit.models import AuditEvent
from tests.conftest import PASSWORD

URL = reverse("accounts:login")


def login(client, email="alice@acme.test", password=PASSWORD):
    return client.post(URL, {"username": email, "password": password})


def test_login_with_email_in_any_case_signs_in_and_is_audited(client, alice):
    response = login(client, email="Alice@ACME.test")

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="user.login")
    assert event.actor_email == "alice@acme.test"
    assert event.target_id == str(alice.pk)


def test_failed_login_is_audited_without_the_password(client, alice):
    response = login(client, password="wrong-password-123")

    assert response.status_code == 200
    assert "correct email and password" in response.content.decode()
    event = AuditEvent.objects.get(action="user.login_failed")
    assert event.target_id == str(alice.pk)
    assert event.actor_email == ""
    assert "wrong-password-123" not in str(event.changes)


def test_login_starts_a_new_session(client, alice):
    client.get(URL)
    client.cookies[settings.SESSION_COOKIE_NAME] = "attacker-fixed-session-id"

    login(client)

    assert client.cookies[settings.SESSION_COOKIE_NAME].value != "attacker-fixed-session-id"


def test_repeated_failures_lock_the_account_out_even_with_the_right_password(client, alice):
    for _ in range(settings.LOGIN_THROTTLE_PER_ACCOUNT):
        login(client, password="not-it-at-all")

    response = login(client)

    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_requires_post_and_ends_the_session(alice_client):
    assert alice_client.get(reverse("accounts:logout")).status_code == 405

    alice_client.post(reverse("accounts:logout"))

    response = alice_client.get(reverse("projects:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(URL)


def test_pages_require_login_by_default(client, org_a):
    response = client.get(reverse("projects:organization", args=[org_a.organization.pk]))

    assert response.status_code == 302
    assert response["Location"].startswith(URL)


def attempt(client, ip, email="alice@acme.test", password="not-it-at-all"):
    return client.post(URL, {"username": email, "password": password}, REMOTE_ADDR=ip)


def spread_failures(count, email="alice@acme.test"):
    """`count` failures from a botnet: four per address, below every per-IP limit."""
    for n in range(count):
        response = attempt(Client(), f"203.0.113.{n // 4 + 1}", email)
        assert "Too many" not in response.content.decode(), n


def test_failures_spread_over_many_addresses_slow_the_account_down(db, alice):
    # 40 failures from 10 addresses used to pass unnoticed: each address stayed under its limits.
    with time_machine.travel(datetime(2026, 12, 6, 12, tzinfo=UTC), tick=False) as clock:
        spread_failures(settings.LOGIN_BACKOFF_AFTER)

        refused = attempt(Client(), "198.51.100.7", password=PASSWORD)  # even the right password waits
        assert "try again in 2 seconds" in refused.content.decode()
        assert "_auth_user_id" not in refused.wsgi_request.session

        clock.shift(2)
        attempt(Client(), "198.51.100.8")  # one more failure: the wait doubles
        assert "try again in 4 seconds" in attempt(Client(), "198.51.100.9").content.decode()

        clock.shift(4)  # slowed, never locked: once the wait is over, the right password works
        assert attempt(Client(), "198.51.100.10", password=PASSWORD).status_code == 302


def test_the_wait_grows_exponentially_up_to_its_cap(db, settings):
    settings.LOGIN_BACKOFF_AFTER, settings.LOGIN_BACKOFF_MAX_SECONDS = 10, 900
    waits = [throttle.backoff_seconds(n) for n in range(9, 21)]

    assert waits == [0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]


def test_the_owner_is_told_once_when_the_backoff_starts(db, alice):
    with time_machine.travel(datetime(2026, 12, 6, 12, tzinfo=UTC), tick=False) as clock:
        spread_failures(settings.LOGIN_BACKOFF_AFTER)
        for _ in range(3):
            clock.shift(60)
            attempt(Client(), "198.51.100.7")

    assert [message.to for message in mail.outbox] == [["alice@acme.test"]]
    assert "failed to sign in" in mail.outbox[0].body
    assert AuditEvent.objects.filter(action="user.login_burst", target_id=str(alice.pk)).count() == 1


def test_an_unknown_address_is_slowed_down_alike_and_nobody_is_mailed(db, alice):
    with time_machine.travel(datetime(2026, 12, 6, 12, tzinfo=UTC), tick=False):
        spread_failures(settings.LOGIN_BACKOFF_AFTER, email="nobody@acme.test")
        response = attempt(Client(), "198.51.100.7", email="nobody@acme.test")

    assert "try again in 2 seconds" in response.content.decode()
    assert mail.outbox == []


def test_a_browser_that_signed_in_before_is_never_slowed_down_by_an_attack(db, alice, mallory):
    # The attacker cannot lock the user out: their own browser carries the device cookie.
    browser = Client()
    assert attempt(browser, "192.0.2.1", password=PASSWORD).status_code == 302
    browser.post(reverse("accounts:logout"))
    with_other_cookie = Client()
    attempt(with_other_cookie, "192.0.2.2", email="mallory@bigcorp.test", password=PASSWORD)
    with_other_cookie.post(reverse("accounts:logout"))
    assert throttle.DEVICE_COOKIE in with_other_cookie.cookies

    with time_machine.travel(datetime(2026, 12, 6, 12, tzinfo=UTC), tick=False):
        spread_failures(settings.LOGIN_BACKOFF_AFTER)

        assert attempt(browser, "192.0.2.1", password=PASSWORD).status_code == 302
        # A device cookie names one account: mallory's does not open alice's.
        refused = attempt(with_other_cookie, "192.0.2.2", password=PASSWORD)
        assert "try again in" in refused.content.decode()
