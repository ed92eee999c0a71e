"""/manage/ API keys: the secret is shown once and only its hash is kept; revoking is audited."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.projects import keyformat
from apps.projects.models import ApiKey, KeyScope
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db

SECRET_RE = re.compile(r"vgl_read_[0-9A-Za-z]{36}")


def url(name: str, *args: object) -> str:
    return reverse(f"manage:{name}", args=args)


def test_new_key_secret_is_shown_once_and_only_its_hash_is_stored(
    alice_client: Client, alice: User, org_a: Tenant
) -> None:
    response = alice_client.post(
        url("projects_apikey_add"), {"project": org_a.project.pk, "scope": KeyScope.READ, "name": "grafana"}
    )
    assert response.status_code == 200

    shown = SECRET_RE.findall(response.content.decode())
    assert len(shown) == 1
    secret = shown[0]
    key = ApiKey.objects.get(name="grafana")
    assert (key.project, key.scope, key.created_by) == (org_a.project, KeyScope.READ, alice)
    assert key.secret_hash == keyformat.hash_secret(secret)
    assert secret not in str(response.cookies)
    assert key.masked == f"{keyformat.public_prefix(secret)}…{secret[-4:]}"

    assert not SECRET_RE.search(alice_client.get(url("projects_apikey_changelist")).content.decode())
    assert not SECRET_RE.search(alice_client.get(url("projects_apikey_change", key.pk)).content.decode())
    stored = [str(e.changes) for e in AuditEvent.objects.all()] + [str(e) for e in LogEntry.objects.all()]
    assert not any(secret in text for text in stored)
    assert (
        AuditEvent.objects.filter(
            action="api_key.create", target_id=str(key.pk), actor_user_id=alice.pk
        ).count()
        == 1
    )


def test_key_cannot_be_created_for_another_organizations_project(
    mallory_client: Client, org_a: Tenant
) -> None:
    before = ApiKey.objects.count()
    response = mallory_client.post(
        url("projects_apikey_add"), {"project": org_a.project.pk, "scope": KeyScope.INGEST, "name": "x"}
    )
    assert response.status_code == 200
    assert ApiKey.objects.count() == before


def test_revoke_action_sets_revoked_at_and_is_audited(
    alice_client: Client, alice: User, org_a: Tenant
) -> None:
    key = ApiKey.objects.get(project=org_a.project, scope=KeyScope.READ)
    response = alice_client.post(
        url("projects_apikey_changelist"),
        {"action": "revoke_keys", ACTION_CHECKBOX_NAME: [key.pk]},
        follow=True,
    )
    assert "Revoked 1 key" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    event = AuditEvent.objects.get(action="api_key.revoke")
    assert (event.target_id, event.actor_user_id) == (str(key.pk), alice.pk)


def test_revoking_an_already_revoked_key_changes_nothing(alice_client: Client, org_a: Tenant) -> None:
    key = ApiKey.objects.get(project=org_a.project, scope=KeyScope.READ)
    action = {"action": "revoke_keys", ACTION_CHECKBOX_NAME: [key.pk]}
    alice_client.post(url("projects_apikey_changelist"), action)
    key.refresh_from_db()
    first = key.revoked_at
    response = alice_client.post(url("projects_apikey_changelist"), action, follow=True)
    assert "1 already revoked" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at == first
    assert AuditEvent.objects.filter(action="api_key.revoke").count() == 1


def test_revoke_action_ignores_other_organizations_keys(alice_client: Client, org_b: Tenant) -> None:
    key = ApiKey.objects.filter(project=org_b.project).first()
    assert key is not None
    alice_client.post(
        url("projects_apikey_changelist"), {"action": "revoke_keys", ACTION_CHECKBOX_NAME: [key.pk]}
    )
    key.refresh_from_db()
    assert key.revoked_at is None


def test_keys_cannot_be_edited_or_deleted(alice_client: Client, org_a: Tenant) -> None:
    key = ApiKey.objects.filter(project=org_a.project).first()
    assert key is not None
    assert alice_client.post(url("projects_apikey_change", key.pk), {"name": "renamed"}).status_code == 403
    assert alice_client.post(url("projects_apikey_delete", key.pk), {"post": "yes"}).status_code == 403
    assert ApiKey.objects.filter(pk=key.pk, name=key.name).exists()
