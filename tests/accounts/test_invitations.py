import re
from datetime import timedelta

import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.projects.models import Invitation, Membership, Role
from tests.conftest import client_for, make_user


def invite(client, org, email="dave@example.test", role=Role.MEMBER):
    return client.post(reverse("projects:invitation-new", args=[org.pk]), {"email": email, "role": role})


def invitation_path():
    return re.search(r"http://testserver(/invitations/\S+/)", mail.outbox[-1].body).group(1)


def test_invited_person_signs_up_from_the_email_link_and_joins_with_the_invited_role(
    alice_client, org_a, client
):
    invite(alice_client, org_a.organization)
    path = invitation_path()

    response = client.post(path, {"password": "dave-has-a-long-passphrase"})

    assert response.status_code == 302
    dave = User.objects.get(email="dave@example.test")
    assert Membership.objects.get(user=dave, organization=org_a.organization).role == Role.MEMBER
    assert AuditEvent.objects.filter(action="invitation.accept", actor_email="dave@example.test").count() == 1


def test_existing_user_signed_in_with_the_invited_address_accepts(alice_client, org_a, mallory):
    invite(alice_client, org_a.organization, email="mallory@bigcorp.test", role=Role.VIEWER)
    path = invitation_path()

    client_for(mallory).post(path)

    assert Membership.objects.get(user=mallory, organization=org_a.organization).role == Role.VIEWER


def test_an_invitation_link_works_only_once(alice_client, org_a, client):
    invite(alice_client, org_a.organization)
    path = invitation_path()
    client.post(path, {"password": "dave-has-a-long-passphrase"})

    second = client_for(make_user("eve@example.test")).get(path)

    assert second.status_code == 410
    assert "already been used" in second.content.decode()


def test_an_expired_invitation_is_refused(alice_client, org_a, client):
    invite(alice_client, org_a.organization)
    path = invitation_path()

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        response = client.post(path, {"password": "dave-has-a-long-passphrase"})

    assert response.status_code == 410
    assert not User.objects.filter(email="dave@example.test").exists()


def test_a_signed_in_user_with_another_address_cannot_use_the_link(alice_client, org_a, mallory):
    invite(alice_client, org_a.organization)
    path = invitation_path()

    client_for(mallory).post(path, follow=True)

    assert not Membership.objects.filter(user=mallory, organization=org_a.organization).exists()
    assert Invitation.objects.get(email="dave@example.test").accepted_at is None


def test_only_the_token_hash_is_stored(alice_client, org_a):
    invite(alice_client, org_a.organization)
    token = invitation_path().rstrip("/").rsplit("/", 1)[1]

    invitation = Invitation.objects.get(email="dave@example.test")
    assert token not in invitation.token_hash
    assert invitation.token_hash == Invitation.hash_token(token)


def test_admin_cannot_invite_an_owner_and_unknown_roles_are_rejected(org_a):
    admin = make_user("adam@acme.test")
    Membership.objects.create(organization=org_a.organization, user=admin, role=Role.ADMIN)
    client = client_for(admin)

    owner_attempt = invite(client, org_a.organization, role=Role.OWNER)
    bogus = invite(client, org_a.organization, role="superuser")

    assert owner_attempt.status_code == 403
    assert bogus.status_code == 400
    assert "Select a valid choice" in bogus.content.decode()
    assert not Invitation.objects.exists()


def test_inviting_an_existing_member_says_so(alice_client, org_a, bob):
    response = invite(alice_client, org_a.organization, email="BOB@acme.test")

    assert response.status_code == 400
    assert "already a member" in response.content.decode()
