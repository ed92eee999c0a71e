"""The alerts API: policies (audited), incidents (ack / resolve), preview, heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from apps.alerts.models import Heartbeat, Incident, Policy, Transition
from apps.audit.models import AuditEvent
from tests.alerts.conftest import BASE, evaluate, log, make_policy
from tests.conftest import client_for, make_member
from tests.telemetry import ingest_logs as ingest

pytestmark = pytest.mark.django_db

BODY = {
    "name": "API errors",
    "kind": "log_count",
    "query": "level>=error service:api",
    "condition": {"op": ">", "threshold": 10, "window": "5m"},
    "for": "5m",
    "keep_firing_for": "1m",
    "interval": "30s",
    "priority": "P1",
    "labels": {"team": "core"},
    "runbook_url": "https://runbooks.example.com/api",
}


def url(project_id: int, suffix: str = "") -> str:
    return f"/api/v1/projects/{project_id}/alerts/policies{suffix}"


def post(client: Client, path: str, body: object, **headers: str):
    return client.post(path, body, content_type="application/json", **headers)


def test_an_admin_creates_changes_and_deletes_a_policy_each_audited(alice_client, org_a):
    created = post(alice_client, url(org_a.project.pk), BODY)
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["kind"], body["spec"], body["condition"]) == (
        "log_count",
        {"query": "level>=error service:api", "group_by": None},
        {"op": ">", "threshold": 10.0, "window": "5m", "resolve_threshold": None},
    )
    assert (body["for"], body["keep_firing_for"], body["interval"], body["state"]) == (
        "5m",
        "1m",
        "30s",
        "normal",
    )
    policy_id = body["id"]

    changed = alice_client.patch(
        url(org_a.project.pk, f"/{policy_id}"),
        {"condition": {"threshold": 20}},
        content_type="application/json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["condition"]["threshold"] == 20.0
    assert alice_client.delete(url(org_a.project.pk, f"/{policy_id}")).status_code == 204
    assert not Policy.objects.filter(pk=policy_id).exists()

    events = list(AuditEvent.objects.filter(action__startswith="alerts.policy").order_by("id"))
    assert [e.action for e in events] == [
        "alerts.policy.create",
        "alerts.policy.change",
        "alerts.policy.delete",
    ]
    assert events[0].changes["after"]["threshold"] == 10.0
    assert events[1].changes == {"before": {"threshold": 10.0}, "after": {"threshold": 20.0}}
    assert events[2].changes["before"]["name"] == "API errors"
    assert {e.actor_email for e in events} == {"alice@acme.test"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"kind": "astrology"}, "kind"),
        ({"query": "level>="}, "query"),
        ({"interval": "15s"}, "interval"),
        ({"interval": "5s"}, "interval"),
        ({"condition": {"op": "=>", "threshold": 1, "window": "5m"}}, "condition.op"),
        ({"condition": {"threshold": "ten", "window": "5m"}}, "condition.threshold"),
        ({"condition": {"threshold": 1, "window": "2d"}}, "window"),
        ({"priority": "P0"}, "priority"),
        ({"labels": {"team": 1}}, "labels"),
        ({"for": "soon"}, "for"),
        ({"kind": "heartbeat"}, "kind"),
        ({"surprise": 1}, "body"),
    ],
)
def test_bad_policies_are_400_naming_the_field(alice_client, org_a, change, field):
    body = {**BODY, **change}
    if change.get("name", "") is None:
        del body["name"]
    response = post(alice_client, url(org_a.project.pk), body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert field in error["details"], error


def test_bad_metric_and_span_specs_are_400(alice_client, org_a):
    metric = {**BODY, "kind": "metric", "metric": {"name": "", "agg": "median"}}
    details = post(alice_client, url(org_a.project.pk), metric).json()["error"]["details"]
    assert set(details) >= {"name", "agg"}
    span = {**BODY, "kind": "span", "span": {"measure": "p42"}}
    assert "measure" in post(alice_client, url(org_a.project.pk), span).json()["error"]["details"]
    assert post(alice_client, url(org_a.project.pk), [1, 2]).status_code == 400
    garbage = alice_client.post(url(org_a.project.pk), "{nope", content_type="application/json")
    assert garbage.status_code == 400
    assert garbage.json()["error"]["code"] == "bad_request"


def test_viewers_and_read_keys_read_policies_but_cannot_write(bob_client, client, org_a):
    policy = make_policy(org_a.project, "log_count", {"query": ""})
    assert bob_client.get(url(org_a.project.pk)).json()[0]["id"] == policy.pk
    assert post(bob_client, url(org_a.project.pk), BODY).status_code == 403
    read = {"HTTP_AUTHORIZATION": f"Bearer {org_a.read_key}"}
    assert client.get(url(org_a.project.pk, f"/{policy.pk}"), **read).status_code == 200
    assert post(client, url(org_a.project.pk), BODY, **read).status_code == 403
    ingest_key = {"HTTP_AUTHORIZATION": f"Bearer {org_a.ingest_key}"}
    assert client.get(url(org_a.project.pk), **ingest_key).status_code == 403


def incidents_url(project_id: int, suffix: str = "") -> str:
    return f"/api/v1/projects/{project_id}/alerts/incidents{suffix}"


def firing_incident(org) -> Incident:
    policy = make_policy(org.project, "log_count", {"query": "level>=error"}, name="errors", threshold=0)
    with time_machine.travel(BASE, tick=False):
        ingest(org.ingest_key, [log(1, BASE)])
        evaluate(policy, BASE)
    return Incident.objects.get(policy=policy)


def test_a_member_acknowledges_then_resolves_an_incident(org_a, bob_client):
    incident = firing_incident(org_a)
    member = client_for(make_member(org_a.organization, "mia@acme.test", "member"))
    listed = member.get(incidents_url(org_a.project.pk), {"state": "firing"}).json()
    assert [i["id"] for i in listed] == [incident.pk]

    assert member.post(incidents_url(org_a.project.pk, f"/{incident.pk}/ack")).status_code == 200
    again = member.post(incidents_url(org_a.project.pk, f"/{incident.pk}/ack"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert bob_client.post(incidents_url(org_a.project.pk, f"/{incident.pk}/resolve")).status_code == 403
    resolved = member.post(incidents_url(org_a.project.pk, f"/{incident.pk}/resolve"))
    assert resolved.status_code == 200
    assert (resolved.json()["state"], resolved.json()["resolved_by"]) == ("resolved", "mia@acme.test")

    detail = member.get(incidents_url(org_a.project.pk, f"/{incident.pk}")).json()
    assert [(t["from"], t["to"], t["actor"]) for t in detail["transitions"]] == [
        ("normal", "firing", None),
        ("firing", "acknowledged", "mia@acme.test"),
        ("firing", "resolved", "mia@acme.test"),
    ]
    assert member.get(incidents_url(org_a.project.pk), {"state": "firing"}).json() == []
    assert member.get(incidents_url(org_a.project.pk), {"state": "nope"}).status_code == 400


def test_an_incident_resolved_by_hand_opens_again_if_the_condition_still_holds(org_a, alice_client):
    incident = firing_incident(org_a)
    alice_client.post(incidents_url(org_a.project.pk, f"/{incident.pk}/resolve"))
    later = BASE + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        assert evaluate(incident.policy, later) == [("resolved", "firing", 1.0, {})]
    assert Incident.objects.filter(policy=incident.policy).count() == 2
    assert Transition.objects.filter(policy=incident.policy).count() == 3


def test_preview_backtests_the_policy_over_the_range(alice_client, org_a):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    ingest(org_a.ingest_key, [log(m, now) for m in (50, 50, 50, 49)])
    policy = make_policy(
        org_a.project, "log_count", {"query": "level>=error"}, threshold=2, window_seconds=300
    )
    response = post(
        alice_client,
        url(org_a.project.pk, f"/{policy.pk}/preview"),
        {"start": (now - timedelta(hours=2)).isoformat(), "end": now.isoformat()},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["threshold"] == 2.0 and body["step"] == 60
    assert [t["to"] for t in body["transitions"]] == ["firing", "resolved"]
    assert body["would_fire"] == 1
    values = [v for _, v in body["series"][0]["points"]]
    assert max(values) == 4.0 and len(values) == 120
    # Unsaved edits are previewed too: with threshold 10 it would never fire.
    edited = post(
        alice_client,
        url(org_a.project.pk, f"/{policy.pk}/preview"),
        {"policy": {"condition": {"threshold": 10}}},
    )
    assert edited.json()["would_fire"] == 0
    too_long = post(alice_client, url(org_a.project.pk, f"/{policy.pk}/preview"), {"start": "-8d"})
    assert too_long.status_code == 400


def test_heartbeats_api_answers_with_the_ping_url(alice_client, bob_client, org_a):
    base = f"/api/v1/projects/{org_a.project.pk}/heartbeats"
    created = post(
        alice_client, base, {"name": "backup", "cron": "30 2 * * *", "tz": "Europe/Berlin", "grace": "30m"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    heartbeat = Heartbeat.objects.get(pk=body["id"])
    assert body["ping_url"] == f"http://testserver/ping/{heartbeat.uuid}"
    assert (body["schedule"], body["status"], body["grace"]) == ("cron", "new", "30m")
    assert post(alice_client, base, {"name": "x", "cron": "61 * * * *"}).json()["error"][
        "details"
    ].keys() == {"cron"}
    assert post(alice_client, base, {"name": "x", "cron": "* * * * *", "tz": "Mars/Base"}).status_code == 400
    assert post(bob_client, base, {"name": "y"}).status_code == 403
    assert bob_client.get(f"{base}/{heartbeat.pk}").json()["name"] == "backup"
    patched = alice_client.patch(
        f"{base}/{heartbeat.pk}", {"name": "nightly"}, content_type="application/json"
    )
    assert (
        patched.json()["name"] == "nightly" and Policy.objects.get(pk=heartbeat.policy_id).name == "nightly"
    )
    assert alice_client.delete(f"{base}/{heartbeat.pk}").status_code == 204
    assert not Policy.objects.filter(pk=heartbeat.policy_id).exists()


def test_a_manage_key_manages_policies_as_code_and_is_audited(alice_client, client, org_a):
    created = post(
        alice_client, f"/api/v1/projects/{org_a.project.pk}/keys", {"scope": "manage", "name": "terraform"}
    )
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret.startswith("vgl_manage_")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    response = post(client, url(org_a.project.pk), BODY, **auth)
    assert response.status_code == 201, response.content
    policy_id = response.json()["id"]
    assert client.get(url(org_a.project.pk, f"/{policy_id}"), **auth).status_code == 200
    patched = client.patch(
        url(org_a.project.pk, f"/{policy_id}"), {"enabled": False}, content_type="application/json", **auth
    )
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    event = AuditEvent.objects.get(action="alerts.policy.create")
    assert event.actor_key_prefix == secret[: len("vgl_manage_") + 8] and event.actor_email == ""
    # Acknowledging is a person's act, and managing the project is not alerts-as-code.
    incident = firing_incident(org_a)
    assert client.post(incidents_url(org_a.project.pk, f"/{incident.pk}/ack"), **auth).status_code == 403
    assert client.post(f"/api/v1/projects/{org_a.project.pk}/keys", {}, **auth).status_code == 403
    # Ingestion refuses it, as it refuses read keys.
    assert (
        client.post("/api/v1/ingest/logs", "[]", content_type="application/json", **auth).status_code == 403
    )


def test_the_organization_home_counts_open_incidents_per_project(alice_client, org_a):
    page = alice_client.get(f"/orgs/{org_a.organization.pk}/").content.decode()
    assert "open-incidents" not in page  # no policies yet: the cell says so with a dash
    firing_incident(org_a)
    # Evaluated data makes the project card show figures, and the cell its open incident.
    page = alice_client.get(f"/orgs/{org_a.organization.pk}/").content.decode()
    assert 'data-testid="open-incidents"' in page
    assert 'title="1 firing, 1 open">1</dd>' in page
