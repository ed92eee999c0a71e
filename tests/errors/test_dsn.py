"""DSN keys: shown on the settings page and by the API, printed by bootstrap, revocable, audited."""

from __future__ import annotations

import json
import re
from io import StringIO

from django.core.management import call_command

from apps.audit.models import AuditEvent
from apps.errors.models import DsnKey

DSN = re.compile(r"^http://([0-9a-f]{32})@testserver/(\d+)$")


def test_an_admin_creates_a_dsn_and_sees_it_on_the_settings_page(alice_client, org_a):
    response = alice_client.post(f"/projects/{org_a.project.pk}/dsn-keys/new/", follow=True)

    key = DsnKey.objects.get(project=org_a.project)
    assert f"http://{key.public_key}@testserver/{org_a.project.pk}" in response.content.decode()
    assert AuditEvent.objects.filter(action="dsn_key.create", target_id=str(key.pk)).exists()


def test_the_api_returns_dsns_and_revoking_one_is_audited(alice_client, org_a):
    created = alice_client.post(
        f"/api/v1/projects/{org_a.project.pk}/dsn-keys", {"name": "web"}, content_type="application/json"
    ).json()
    listed = alice_client.get(f"/api/v1/projects/{org_a.project.pk}/dsn-keys").json()
    revoked = alice_client.delete(f"/api/v1/projects/{org_a.project.pk}/dsn-keys/{created['id']}")
    again = alice_client.delete(f"/api/v1/projects/{org_a.project.pk}/dsn-keys/{created['id']}")

    match = DSN.match(created["dsn"])
    assert match and match.groups() == (created["public_key"], str(org_a.project.pk))
    assert [k["dsn"] for k in listed] == [created["dsn"]]
    assert (revoked.status_code, again.status_code) == (204, 409)
    assert AuditEvent.objects.filter(action="dsn_key.revoke", target_id=str(created["id"])).exists()


def test_read_keys_cannot_list_dsns(client, org_a):
    response = client.get(
        f"/api/v1/projects/{org_a.project.pk}/dsn-keys", HTTP_AUTHORIZATION=f"Bearer {org_a.read_key}"
    )

    assert response.status_code == 403


def test_bootstrap_prints_the_same_dsn_on_every_run(db, settings):
    settings.VIGIL_URL = "https://vigil.example"

    def run() -> dict:
        out = StringIO()
        call_command(
            "bootstrap",
            "--email",
            "ops@x.test",
            "--password",
            "a-long-pass-phrase",
            "--org",
            "O",
            "--project",
            "p",
            "--json",
            stdout=out,
        )
        return json.loads(out.getvalue())

    first, second = run(), run()

    assert first["dsn"] == second["dsn"]
    assert re.match(rf"^https://[0-9a-f]{{32}}@vigil\.example/{first['project_id']}$", first["dsn"])
