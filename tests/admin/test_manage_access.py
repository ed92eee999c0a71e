"""/manage/: who gets in, and that each admin sees only the organizations they administer."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.audit import Actor
from apps.projects.models import ApiKey, Membership, Role
from apps.projects.services import invitation_create
from tests.conftest import PASSWORD, Tenant

pytestmark = pytest.mark.django_db


def url(name: str, *args: object) -> str:
    return reverse(f"manage:{name}", args=args)


def test_owner_sees_the_manage_index_with_its_title(alice_client: Client) -> None:
    response = alice_client.get(url("index"))
    assert response.status_code == 200
    assert "Vigil — manage your organization" in response.content.decode()
    assert url("projects_project_changelist") in response.content.decode()


def test_signed_in_viewer_is_refused_with_403(bob_client: Client) -> None:
    response = bob_client.get(url("projects_project_changelist"))
    assert response.status_code == 403
    assert bob_client.get(url("index")).status_code == 403


def test_anonymous_visitor_is_sent_to_sign_in(client: Client, org_a: Tenant) -> None:
    response = client.get(url("projects_project_changelist"))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_admin_can_sign_in_with_a_normal_account(client: Client, alice: User) -> None:
    credentials = {"username": alice.email, "password": PASSWORD, "next": url("index")}
    response = client.post(url("login"), credentials)
    assert response.status_code == 302
    assert client.get(url("index")).status_code == 200


def test_viewer_cannot_sign_in_to_manage(client: Client, bob: User) -> None:
    response = client.post(url("login"), {"username": bob.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "not an admin or owner" in response.content.decode()


@pytest.fixture
def invitations(org_a: Tenant, org_b: Tenant) -> None:
    for tenant in (org_a, org_b):
        owner = Membership.objects.get(user=tenant.owner)
        invitation_create(
            tenant.organization,
            f"new@{tenant.organization.name}.test",
            Role.MEMBER,
            owner,
            by=Actor(user=owner.user),
        )


@pytest.mark.parametrize("model", ["project", "apikey", "membership", "invitation"])
def test_admin_in_a_and_viewer_in_b_sees_only_a(
    carol_client: Client, org_a: Tenant, org_b: Tenant, invitations: None, model: str
) -> None:
    page = carol_client.get(url(f"projects_{model}_changelist")).content.decode()
    assert org_a.organization.name in page
    assert org_b.organization.name not in page


def test_key_list_shows_masked_keys_of_own_organization_only(
    carol_client: Client, org_a: Tenant, org_b: Tenant
) -> None:
    page = carol_client.get(url("projects_apikey_changelist")).content.decode()
    for key in ApiKey.objects.filter(project=org_a.project):
        assert key.masked in page
    for key in ApiKey.objects.filter(project=org_b.project):
        assert key.prefix not in page
    assert org_a.ingest_key not in page


def test_member_list_hides_other_organizations_members(
    carol_client: Client, org_a: Tenant, org_b: Tenant
) -> None:
    page = carol_client.get(url("projects_membership_changelist")).content.decode()
    assert org_a.owner.email in page
    assert org_b.owner.email not in page


def test_audit_log_shows_only_own_organization(carol_client: Client, org_a: Tenant, org_b: Tenant) -> None:
    page = carol_client.get(url("audit_auditevent_changelist")).content.decode()
    b_prefixes = ApiKey.objects.filter(project=org_b.project).values_list("prefix", flat=True)
    assert any(key.prefix in page for key in ApiKey.objects.filter(project=org_a.project))
    assert not any(prefix in page for prefix in b_prefixes)


def test_foreign_key_choices_offer_only_administered_organizations(
    carol_client: Client, org_a: Tenant, org_b: Tenant
) -> None:
    project_form = carol_client.get(url("projects_project_add")).content.decode()
    key_form = carol_client.get(url("projects_apikey_add")).content.decode()
    assert org_a.organization.name in project_form
    assert org_b.organization.name not in project_form
    assert f'value="{org_a.project.pk}"' in key_form
    assert f'value="{org_b.project.pk}"' not in key_form


@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_another_organizations_project_is_404(mallory_client: Client, org_a: Tenant, view: str) -> None:
    assert mallory_client.get(url(f"projects_project_{view}", org_a.project.pk)).status_code == 404


def test_a_viewer_membership_does_not_open_that_organizations_objects(
    carol_client: Client, org_b: Tenant
) -> None:
    owner_membership = Membership.objects.get(user=org_b.owner)
    assert carol_client.get(url("projects_project_change", org_b.project.pk)).status_code == 404
    assert carol_client.get(url("projects_membership_change", owner_membership.pk)).status_code == 404
    response = carol_client.post(url("projects_project_change", org_b.project.pk), {"name": "pwned"})
    assert response.status_code == 404
    org_b.project.refresh_from_db()
    assert org_b.project.name == "Bigcorp web"


def test_missing_object_is_404_too(alice_client: Client) -> None:
    assert alice_client.get(url("projects_project_change", 999_999)).status_code == 404
