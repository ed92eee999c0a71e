import re

from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from tests.conftest import PASSWORD, client_for


def test_password_reset_email_link_sets_a_new_password(client, alice):
    client.post(reverse("accounts:password-reset"), {"email": "alice@acme.test"})

    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    response = client.post(
        form_page.redirect_chain[-1][0],
        {
            "new_password1": "brand-new-passphrase-42",
            "new_password2": "brand-new-passphrase-42",
        },
    )

    assert response.status_code == 302
    assert User.objects.get(pk=alice.pk).check_password("brand-new-passphrase-42")
    assert AuditEvent.objects.filter(action="user.password_reset", actor_email="alice@acme.test").count() == 1


def test_password_reset_for_unknown_email_looks_the_same_and_sends_nothing(client, db):
    response = client.post(reverse("accounts:password-reset"), {"email": "nobody@example.test"})

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password-reset-done")
    assert mail.outbox == []


def request_reset(email, ip):
    return Client().post(reverse("accounts:password-reset"), {"email": email}, REMOTE_ADDR=ip)


def test_reset_requests_for_one_address_are_limited_whatever_the_ip(db, alice, settings):
    for n in range(settings.PASSWORD_RESET_PER_EMAIL):
        assert request_reset("alice@acme.test", f"203.0.113.{n + 1}").status_code == 302

    refused = request_reset("Alice@acme.test", "203.0.113.99")

    assert refused.status_code == 429
    assert refused["Retry-After"] == "3600"
    assert "Too many reset requests" in refused.content.decode()
    assert len(mail.outbox) == settings.PASSWORD_RESET_PER_EMAIL


def test_reset_requests_from_one_ip_are_limited_whatever_the_address(db, alice, settings):
    for n in range(settings.PASSWORD_RESET_PER_IP - 1):
        assert request_reset(f"someone{n}@example.test", "203.0.113.5").status_code == 302
    assert request_reset("alice@acme.test", "203.0.113.5").status_code == 302

    assert request_reset("alice@acme.test", "203.0.113.5").status_code == 429
    assert request_reset("bob@acme.test", "203.0.113.5").status_code == 429
    assert len(mail.outbox) == 1  # the one known address, once
    # Unknown and known addresses are counted alike: the limit reveals nobody's account.
    assert request_reset("nobody@example.test", "203.0.113.6").status_code == 302


PROFILE = reverse("accounts:profile")
CHANGE = reverse("accounts:password-change")


def test_a_viewer_changes_their_own_password_from_the_profile_and_it_is_audited(bob_client, bob):
    assert 'action="/profile/password/"' in bob_client.get(PROFILE).content.decode()

    response = bob_client.post(
        CHANGE,
        {
            "old_password": PASSWORD,
            "new_password1": "a-whole-new-phrase-77",
            "new_password2": "a-whole-new-phrase-77",
        },
    )

    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.check_password("a-whole-new-phrase-77")
    assert bob_client.get(PROFILE).status_code == 200  # this session stays signed in
    event = AuditEvent.objects.get(action="user.password_change")
    assert (event.actor_email, event.target_id) == ("bob@acme.test", str(bob.pk))
    assert "a-whole-new-phrase-77" not in str(event.changes)


def test_other_sessions_end_when_the_password_changes(bob_client, bob):
    other_session = client_for(bob)

    bob_client.post(
        CHANGE,
        {
            "old_password": PASSWORD,
            "new_password1": "a-whole-new-phrase-77",
            "new_password2": "a-whole-new-phrase-77",
        },
    )

    assert other_session.get(PROFILE).status_code == 302  # to the sign-in page


def test_a_wrong_current_password_changes_nothing(bob_client, bob):
    response = bob_client.post(
        CHANGE,
        {
            "old_password": "guess",
            "new_password1": "a-whole-new-phrase-77",
            "new_password2": "a-whole-new-phrase-77",
        },
    )

    assert response.status_code == 400
    assert "old password was entered incorrectly" in response.content.decode()
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="user.password_change").exists()
