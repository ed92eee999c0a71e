from django.urls import reverse

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.projects.models import Membership, Organization, Role

URL = reverse("accounts:signup")


def signup(client, email="carol@example.test", password="a-long-enough-passphrase", organization="Carol Co"):
    return client.post(URL, {"email": email, "password": password, "organization": organization})


def test_signup_creates_user_organization_and_owner_membership_and_signs_in(client, db):
    response = signup(client)

    user = User.objects.get(email="carol@example.test")
    organization = Organization.objects.get(name="Carol Co")
    assert Membership.objects.get(user=user, organization=organization).role == Role.OWNER
    assert response.status_code == 302
    assert response["Location"] == reverse("projects:organization", args=[organization.pk])
    assert client.get(response["Location"]).status_code == 200  # signed in


def test_signup_is_audited_once_with_the_new_user_as_actor(client, db):
    signup(client)

    event = AuditEvent.objects.get(action="user.signup")
    assert event.actor_email == "carol@example.test"
    assert event.organization_name == "Carol Co"


def test_duplicate_email_is_refused_case_insensitively_and_nothing_is_created(client, alice):
    response = signup(client, email="ALICE@Acme.Test", organization="Second Acme")

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert not Organization.objects.filter(name="Second Acme").exists()
    assert User.objects.filter(email__iexact="alice@acme.test").count() == 1


def test_weak_password_shows_field_error(client, db):
    response = signup(client, password="12345678")

    assert response.status_code == 200
    body = response.content.decode()
    assert "too short" in body or "too common" in body
    assert not User.objects.exists()


def test_oversized_and_blank_fields_show_errors(client, db):
    response = signup(client, email="x" * 300 + "@example.test", organization=" ")

    body = response.content.decode()
    assert "Enter a valid email address" in body or "at most 254" in body
    assert "This field is required" in body or "Give your organization a name" in body
    assert not User.objects.exists() and not Organization.objects.exists()


def test_signed_in_user_visiting_signup_goes_to_their_projects(alice_client):
    response = alice_client.get(URL)

    assert response.status_code == 302
