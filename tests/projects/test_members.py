from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.projects.models import Membership, Role
from tests.conftest import client_for, make_member


def set_role(client, org, membership, role):
    return client.post(reverse("projects:member-role", args=[org.pk, membership.pk]), {"role": role})


def remove(client, org, membership):
    return client.post(reverse("projects:member-remove", args=[org.pk, membership.pk]))


def membership_of(user, org):
    return Membership.objects.get(user=user, organization=org)


def test_owner_changes_a_role_and_it_is_audited_with_before_and_after(alice_client, org_a, bob):
    response = set_role(alice_client, org_a.organization, membership_of(bob, org_a.organization), Role.MEMBER)

    assert response.status_code == 302
    assert membership_of(bob, org_a.organization).role == Role.MEMBER
    event = AuditEvent.objects.get(action="membership.role_change")
    assert event.changes == {"before": {"role": "viewer"}, "after": {"role": "member"}}
    assert event.actor_email == "alice@acme.test" and event.target_repr == "bob@acme.test"


def test_the_last_owner_can_be_neither_demoted_nor_removed(alice_client, alice, org_a):
    own = membership_of(alice, org_a.organization)

    demote = set_role(alice_client, org_a.organization, own, Role.ADMIN)
    leave = remove(alice_client, org_a.organization, own)

    assert demote.status_code == 409
    assert "at least one owner" in demote.content.decode()
    assert leave.status_code == 409
    assert membership_of(alice, org_a.organization).role == Role.OWNER
    assert not AuditEvent.objects.filter(action__startswith="membership.").exists()


def test_an_owner_can_step_down_once_there_is_another_owner(alice_client, alice, org_a):
    other = make_member(org_a.organization, "olga@acme.test", Role.OWNER)
    own = membership_of(alice, org_a.organization)

    client_for(other).post(
        reverse("projects:member-role", args=[org_a.organization.pk, own.pk]), {"role": Role.ADMIN}
    )

    assert membership_of(alice, org_a.organization).role == Role.ADMIN


def test_admins_cannot_change_or_remove_owners(alice, org_a):
    admin = make_member(org_a.organization, "adam@acme.test", Role.ADMIN)
    client = client_for(admin)
    owner = membership_of(alice, org_a.organization)

    assert set_role(client, org_a.organization, owner, Role.VIEWER).status_code == 403
    assert remove(client, org_a.organization, owner).status_code == 403
    assert membership_of(alice, org_a.organization).role == Role.OWNER


def test_admins_cannot_promote_anyone_to_owner(org_a, bob):
    admin = make_member(org_a.organization, "adam@acme.test", Role.ADMIN)

    response = set_role(
        client_for(admin), org_a.organization, membership_of(bob, org_a.organization), Role.OWNER
    )

    assert response.status_code == 403
    assert membership_of(bob, org_a.organization).role == Role.VIEWER


def test_unknown_role_is_a_clear_error(alice_client, org_a, bob):
    response = set_role(alice_client, org_a.organization, membership_of(bob, org_a.organization), "god")

    assert response.status_code == 400
    assert "Choose one of the roles" in response.content.decode()


def test_a_member_can_leave_an_organization(bob_client, bob, org_a):
    response = remove(bob_client, org_a.organization, membership_of(bob, org_a.organization))

    assert response.status_code == 302
    assert not Membership.objects.filter(user=bob, organization=org_a.organization).exists()
    assert AuditEvent.objects.filter(action="membership.leave", actor_email="bob@acme.test").count() == 1


def test_ownership_transfer_swaps_roles(alice_client, alice, org_a, bob):
    alice_client.post(
        reverse("projects:organization-transfer", args=[org_a.organization.pk]),
        {"membership": membership_of(bob, org_a.organization).pk},
    )

    assert membership_of(bob, org_a.organization).role == Role.OWNER
    assert membership_of(alice, org_a.organization).role == Role.ADMIN
