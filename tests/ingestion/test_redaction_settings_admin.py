"""Org admins extend a project's redaction in /manage/; changes are audited, other tenants get 404."""

import json

from apps.audit.models import AuditEvent
from apps.ingestion.models import IngestionSettings

ADD = "/manage/ingestion/ingestionsettings/add/"


def add_settings(client, project, keys):
    return client.post(ADD, {"project": project.pk, "redact_keys": json.dumps(keys), "redact_patterns": "[]"})


def test_an_owner_adds_redaction_keys_and_it_is_audited(alice_client, org_a):
    response = add_settings(alice_client, org_a.project, ["ssn"])

    assert response.status_code == 302, response.content[:500]
    assert IngestionSettings.objects.get(project=org_a.project).redact_keys == ["ssn"]
    event = AuditEvent.objects.get(action="project.redaction_update")
    assert event.actor_email == "alice@acme.test"
    assert event.changes["after"]["redact_keys"] == ["ssn"]


def test_the_new_key_is_masked_at_ingestion(alice_client, client, org_a):
    add_settings(alice_client, org_a.project, ["ssn"])
    from apps.ingestion import redaction

    redaction._per_project.clear()  # this process's short-lived cache of per-project settings
    client.post(
        "/api/v1/ingest/logs",
        json.dumps([{"message": "hi", "attributes": {"customer_ssn": "123-45"}}]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {org_a.ingest_key}",
    )

    logs = client.get(
        f"/api/v1/projects/{org_a.project.pk}/logs", HTTP_AUTHORIZATION=f"Bearer {org_a.read_key}"
    )
    assert logs.json()["records"][0]["attributes"]["customer_ssn"] == "[REDACTED]"


def test_another_organization_cannot_attach_settings_to_a_project_it_does_not_own(mallory_client, org_a):
    response = add_settings(mallory_client, org_a.project, ["x"])

    assert response.status_code == 200  # the form refuses the choice
    assert "Select a valid choice" in response.content.decode()
    assert not IngestionSettings.objects.exists()


def test_another_organizations_settings_are_404(alice_client, mallory_client, org_a):
    add_settings(alice_client, org_a.project, ["ssn"])
    settings_id = IngestionSettings.objects.get().pk

    response = mallory_client.get(f"/manage/ingestion/ingestionsettings/{settings_id}/change/")

    assert response.status_code == 404


def test_a_change_records_the_previous_list_as_before(alice_client, org_a):
    add_settings(alice_client, org_a.project, ["ssn"])
    settings_id = IngestionSettings.objects.get().pk

    response = alice_client.post(
        f"/manage/ingestion/ingestionsettings/{settings_id}/change/",
        {"project": org_a.project.pk, "redact_keys": json.dumps(["ssn", "iban"]), "redact_patterns": "[]"},
    )

    assert response.status_code == 302, response.content[:500]
    event = AuditEvent.objects.filter(action="project.redaction_update").order_by("-id").first()
    assert event.changes["before"]["redact_keys"] == ["ssn"]
    assert event.changes["after"]["redact_keys"] == ["ssn", "iban"]
