"""/manage/ members and invitations: role rules come from the services and show as messages."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.projects.models import Invitation, Membership, Role
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def url(name: str, *args: object) -> str:
    return reverse(f"manage:{name}", args=args)


def membership(user: User, tenant: Tenant) -> Membership:
    return Membership.objects.get(user=user, organization=tenant.organization)


def test_demoting_the_last_owner_fails_with_a_message_and_changes_nothing(
    alice_client: Client, alice: User, org_a: Tenant
) -> None:
    own = membership(alice, org_a)
    response = alice_client.post(url("projects_membership_change", own.pk), {"role": Role.ADMIN}, follow=True)
    assert response.status_code == 200
    assert "An organization needs at least one owner" in response.content.decode()
    own.refresh_from_db()
    assert own.role == Role.OWNER
    assert not AuditEvent.objects.filter(action="membership.role_change").exists()


def test_removing_the_last_owner_fails_with_a_message(
    alice_client: Client, alice: User, org_a: Tenant
) -> None:
    own = membership(alice, org_a)
    response = alice_client.post(url("projects_membership_delete", own.pk), {"post": "yes"}, follow=True)
    assert "An organization needs at least one owner" in response.content.decode()
    assert Membership.objects.filter(pk=own.pk).exists()


def test_an_admin_cannot_change_an_owners_role(carol_client: Client, alice: User, org_a: Tenant) -> None:
    owner = membership(alice, org_a)
    response = carol_client.post(
        url("projects_membership_change", owner.pk), {"role": Role.VIEWER}, follow=True
    )
    assert response.status_code == 200
    assert "Only owners can change an owner" in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_an_admin_cannot_remove_an_owner(carol_client: Client, alice: User, org_a: Tenant) -> None:
    owner = membership(alice, org_a)
    carol_client.post(url("projects_membership_delete", owner.pk), {"post": "yes"})
    assert Membership.objects.filter(pk=owner.pk).exists()
    assert not AuditEvent.objects.filter(action="membership.remove").exists()


def test_an_admin_changes_a_viewers_role_and_it_is_audited(
    carol_client: Client, carol: User, bob: User, org_a: Tenant
) -> None:
    viewer = membership(bob, org_a)
    carol_client.post(url("projects_membership_change", viewer.pk), {"role": Role.MEMBER})
    viewer.refresh_from_db()
    assert viewer.role == Role.MEMBER
    event = AuditEvent.objects.get(action="membership.role_change")
    assert (event.actor_user_id, event.target_id) == (carol.pk, str(bob.pk))
    assert event.changes == {"before": {"role": "viewer"}, "after": {"role": "member"}}


def test_an_owner_removes_a_member_and_it_is_audited(alice_client: Client, bob: User, org_a: Tenant) -> None:
    viewer = membership(bob, org_a)
    alice_client.post(url("projects_membership_delete", viewer.pk), {"post": "yes"})
    assert not Membership.objects.filter(pk=viewer.pk).exists()
    assert AuditEvent.objects.filter(action="membership.remove", target_id=str(bob.pk)).count() == 1


def test_invitation_is_created_through_the_service(alice_client: Client, alice: User, org_a: Tenant) -> None:
    response = alice_client.post(
        url("projects_invitation_add"),
        {"organization": org_a.organization.pk, "email": "dan@acme.test", "role": Role.MEMBER},
        follow=True,
    )
    invitation = Invitation.objects.get(email="dan@acme.test")
    assert (invitation.organization, invitation.role, invitation.invited_by) == (
        org_a.organization,
        Role.MEMBER,
        alice,
    )
    assert len(mail.outbox) == 1
    assert invitation.token_hash not in response.content.decode()
    assert AuditEvent.objects.filter(action="invitation.create", actor_user_id=alice.pk).count() == 1


def test_an_admin_cannot_invite_an_owner(carol_client: Client, org_a: Tenant) -> None:
    response = carol_client.post(
        url("projects_invitation_add"),
        {"organization": org_a.organization.pk, "email": "eve@acme.test", "role": Role.OWNER},
        follow=True,
    )
    assert "Only an owner can invite another owner" in response.content.decode()
    assert not Invitation.objects.exists()


def test_reinviting_an_address_replaces_its_open_invitation(alice_client: Client, org_a: Tenant) -> None:
    data = {"organization": org_a.organization.pk, "email": "dan@acme.test", "role": Role.MEMBER}
    alice_client.post(url("projects_invitation_add"), data)
    alice_client.post(url("projects_invitation_add"), {**data, "role": Role.ADMIN})
    assert list(Invitation.objects.values_list("role", flat=True)) == [Role.ADMIN]


def test_deleting_an_invitation_revokes_it_through_the_service(alice_client: Client, org_a: Tenant) -> None:
    alice_client.post(
        url("projects_invitation_add"),
        {"organization": org_a.organization.pk, "email": "dan@acme.test", "role": Role.MEMBER},
    )
    invitation = Invitation.objects.get()
    alice_client.post(url("projects_invitation_delete", invitation.pk), {"post": "yes"})
    assert not Invitation.objects.exists()
    assert AuditEvent.objects.filter(action="invitation.revoke", target_id=str(invitation.pk)).count() == 1
