from django.conf import settings
from django.urls import reverse

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
