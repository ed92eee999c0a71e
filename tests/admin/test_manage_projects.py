"""/manage/ projects: created, renamed and deleted through the services, so each is audited once."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.projects.models import ApiKey, Project
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def url(name: str, *args: object) -> str:
    return reverse(f"manage:{name}", args=args)


def test_owner_creates_a_project_audited_once_with_her_as_actor(
    alice_client: Client, alice: User, org_a: Tenant
) -> None:
    response = alice_client.post(
        url("projects_project_add"), {"organization": org_a.organization.pk, "name": "Checkout"}
    )
    assert response.status_code == 302
    project = Project.objects.get(organization=org_a.organization, name="Checkout")
    events = AuditEvent.objects.filter(action="project.create")
    assert events.count() == 1
    event = events.get()
    assert (event.actor_user_id, event.target_id, event.organization_id) == (
        alice.pk,
        str(project.pk),
        org_a.organization.pk,
    )


def test_duplicate_project_name_is_a_form_error(alice_client: Client, org_a: Tenant) -> None:
    response = alice_client.post(
        url("projects_project_add"), {"organization": org_a.organization.pk, "name": "ACME WEB"}
    )
    assert response.status_code == 200
    assert "already exists in this organization" in response.content.decode()
    assert Project.objects.filter(organization=org_a.organization).count() == 1
    assert not AuditEvent.objects.filter(action="project.create").exists()


def test_creating_a_project_in_another_organization_is_refused(mallory_client: Client, org_a: Tenant) -> None:
    response = mallory_client.post(
        url("projects_project_add"), {"organization": org_a.organization.pk, "name": "Sneaky"}
    )
    assert response.status_code == 200  # the form again: A is not a valid choice for mallory
    assert not Project.objects.filter(name="Sneaky").exists()


def test_renaming_a_project_is_audited(alice_client: Client, org_a: Tenant) -> None:
    alice_client.post(url("projects_project_change", org_a.project.pk), {"name": "Storefront"})
    org_a.project.refresh_from_db()
    assert org_a.project.name == "Storefront"
    event = AuditEvent.objects.get(action="project.update")
    assert event.changes == {"before": {"name": "Acme web"}, "after": {"name": "Storefront"}}


def test_deleting_a_project_takes_its_keys_and_is_audited(alice_client: Client, org_a: Tenant) -> None:
    response = alice_client.post(url("projects_project_delete", org_a.project.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Project.objects.filter(pk=org_a.project.pk).exists()
    assert not ApiKey.objects.filter(project_id=org_a.project.pk).exists()
    assert AuditEvent.objects.filter(action="project.delete", target_id=str(org_a.project.pk)).count() == 1


def test_bulk_delete_goes_through_the_service(alice_client: Client, org_a: Tenant) -> None:
    other = Project.objects.create(organization=org_a.organization, name="Second")
    ids = [org_a.project.pk, other.pk]
    alice_client.post(
        url("projects_project_changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: ids, "post": "yes"},
    )
    assert not Project.objects.filter(pk__in=ids).exists()
    assert AuditEvent.objects.filter(action="project.delete").count() == 2


def test_bulk_delete_ignores_other_organizations_projects(alice_client: Client, org_b: Tenant) -> None:
    alice_client.post(
        url("projects_project_changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [org_b.project.pk], "post": "yes"},
    )
    assert Project.objects.filter(pk=org_b.project.pk).exists()


def test_renaming_to_a_taken_name_is_a_form_error(alice_client: Client, org_a: Tenant) -> None:
    Project.objects.create(organization=org_a.organization, name="Second")
    response = alice_client.post(url("projects_project_change", org_a.project.pk), {"name": "second"})
    assert "already exists in this organization" in response.content.decode()
    org_a.project.refresh_from_db()
    assert org_a.project.name == "Acme web"
