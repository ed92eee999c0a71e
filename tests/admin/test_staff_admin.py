"""/admin/: the staff operators' admin. Writes go through the services, so they are audited too."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.audit import Actor
from apps.audit.models import AuditEvent
from apps.projects.models import ApiKey, Invitation, Membership, Project, Role
from apps.projects.services import invitation_create
from tests.conftest import PASSWORD, Tenant

pytestmark = pytest.mark.django_db

MODELS = [
    "accounts_user",
    "projects_organization",
    "projects_membership",
    "projects_invitation",
    "projects_project",
    "projects_apikey",
    "audit_auditevent",
]


def url(name: str, *args: object) -> str:
    return reverse(f"admin:{name}", args=args)


@pytest.fixture
def invitation(org_a: Tenant) -> Invitation:
    actor = Membership.objects.get(user=org_a.owner)
    return invitation_create(
        org_a.organization, "dan@acme.test", Role.MEMBER, actor, by=Actor(user=actor.user)
    )[0]


def any_object_of(model: str, org_a: Tenant, invitation: Invitation) -> object:
    objects = {
        "accounts_user": org_a.owner,
        "projects_organization": org_a.organization,
        "projects_membership": Membership.objects.get(user=org_a.owner),
        "projects_invitation": invitation,
        "projects_project": org_a.project,
        "projects_apikey": ApiKey.objects.filter(project=org_a.project).first(),
        "audit_auditevent": AuditEvent.objects.first(),
    }
    return objects[model]


@pytest.mark.parametrize("model", MODELS)
def test_every_changelist_and_change_page_loads_for_staff(
    operator_client: Client, org_a: Tenant, invitation: Invitation, model: str
) -> None:
    assert operator_client.get(url(f"{model}_changelist")).status_code == 200
    obj = any_object_of(model, org_a, invitation)
    assert operator_client.get(url(f"{model}_change", obj.pk)).status_code == 200  # type: ignore[attr-defined]


def test_signed_in_customer_is_not_let_into_the_staff_admin(alice_client: Client) -> None:
    response = alice_client.get(url("index"))
    assert response.status_code == 302
    assert response["Location"].startswith(url("login"))


def test_staff_can_add_a_user_with_a_password(operator_client: Client) -> None:
    response = operator_client.post(
        url("accounts_user_add"),
        {
            "email": "new@example.test",
            "name": "New",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="new@example.test")
    assert user.check_password("a-long-enough-passphrase")
    assert not user.is_staff


def test_adding_a_user_whose_email_differs_only_in_case_is_refused(
    operator_client: Client, alice: User
) -> None:
    response = operator_client.post(
        url("accounts_user_add"),
        {
            "email": "ALICE@acme.test",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
        },
    )
    assert response.status_code == 200
    assert User.objects.filter(email__iexact="alice@acme.test").count() == 1


def test_audit_events_cannot_be_changed_or_deleted(operator_client: Client, org_a: Tenant) -> None:
    event = AuditEvent.objects.first()
    assert event is not None
    before = AuditEvent.objects.count()

    change = operator_client.post(url("audit_auditevent_change", event.pk), {"action": "forged"})
    delete = operator_client.post(url("audit_auditevent_delete", event.pk), {"post": "yes"})
    bulk_delete = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [event.pk], "post": "yes"}
    bulk = operator_client.post(url("audit_auditevent_changelist"), bulk_delete)

    assert change.status_code == 403
    assert delete.status_code == 403
    assert bulk.status_code in (200, 302)  # "no such action": the changelist again, nothing deleted
    assert AuditEvent.objects.count() == before
    event.refresh_from_db()
    assert event.action == "api_key.create"
    assert operator_client.get(url("audit_auditevent_add")).status_code == 403


def test_deleting_projects_in_bulk_audits_each_one(
    operator_client: Client, org_a: Tenant, org_b: Tenant
) -> None:
    ids = [org_a.project.pk, org_b.project.pk]
    response = operator_client.post(
        url("projects_project_changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: ids, "post": "yes"},
    )
    assert response.status_code == 302
    assert not Project.objects.filter(pk__in=ids).exists()
    deleted = AuditEvent.objects.filter(action="project.delete")
    assert sorted(int(e.target_id) for e in deleted) == sorted(ids)
    assert {e.actor_email for e in deleted} == {"ops@vigil.test"}


def test_staff_revoke_action_revokes_and_audits(operator_client: Client, org_a: Tenant) -> None:
    key = ApiKey.objects.filter(project=org_a.project).first()
    assert key is not None
    operator_client.post(
        url("projects_apikey_changelist"), {"action": "revoke_keys", ACTION_CHECKBOX_NAME: [key.pk]}
    )
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AuditEvent.objects.filter(action="api_key.revoke", target_id=str(key.pk)).count() == 1


def test_staff_cannot_mint_keys_or_edit_them(operator_client: Client, org_a: Tenant) -> None:
    key = ApiKey.objects.filter(project=org_a.project).first()
    assert key is not None
    assert operator_client.get(url("projects_apikey_add")).status_code == 403
    response = operator_client.get(url("projects_apikey_change", key.pk))
    assert key.secret_hash not in response.content.decode()
    assert operator_client.post(url("projects_apikey_change", key.pk), {"name": "x"}).status_code == 403


def test_staff_cannot_demote_the_last_owner_either(operator_client: Client, org_a: Tenant) -> None:
    membership = Membership.objects.get(user=org_a.owner)
    response = operator_client.post(
        url("projects_membership_change", membership.pk), {"role": Role.ADMIN}, follow=True
    )
    assert "at least one owner" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.OWNER
    assert not AuditEvent.objects.filter(action="membership.role_change").exists()


def test_invitation_token_hash_is_never_shown(operator_client: Client, invitation: Invitation) -> None:
    response = operator_client.get(url("projects_invitation_change", invitation.pk))
    assert invitation.token_hash not in response.content.decode()


def test_staff_creates_a_project_through_the_service(
    operator_client: Client, operator: User, org_a: Tenant
) -> None:
    operator_client.post(url("projects_project_add"), {"organization": org_a.organization.pk, "name": "Ops"})
    project = Project.objects.get(name="Ops")
    event = AuditEvent.objects.get(action="project.create")
    assert (event.actor_user_id, event.target_id) == (operator.pk, str(project.pk))


def test_staff_sign_in_is_refused_for_customers(client: Client, alice: User) -> None:
    response = client.post(url("login"), {"username": alice.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "not a staff account" in response.content.decode()


def test_staff_sign_in_is_throttled_like_every_sign_in(client: Client, operator: User, settings) -> None:
    settings.LOGIN_THROTTLE_PER_ACCOUNT = 2
    for _ in range(2):
        client.post(url("login"), {"username": operator.email, "password": "wrong"})
    response = client.post(url("login"), {"username": operator.email, "password": PASSWORD})
    assert "Too many failed sign-in attempts" in response.content.decode()
