"""What the alerts pages draw: the preview of a policy not saved yet (the create form's chart),
the recent values of each instance (the policy list's sparklines), and the org home's incident counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.alerts import recent
from apps.alerts.models import Policy
from tests.alerts.conftest import BASE, evaluate, log, make_policy
from tests.telemetry import ingest_logs as ingest

pytestmark = pytest.mark.django_db


def preview_url(project_id: int) -> str:
    return f"/api/v1/projects/{project_id}/alerts/preview"


def test_an_unsaved_policy_is_backtested_and_nothing_is_written(bob_client, org_a):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    ingest(org_a.ingest_key, [log(m, now) for m in (50, 50, 50, 49)] + [log(30, now, level="info")])
    body = {
        "policy": {
            "name": "errors",
            "kind": "log_count",
            "query": "level>=error",
            "condition": {"op": ">", "threshold": 2, "window": "5m"},
        },
        "start": (now - timedelta(hours=2)).isoformat(),
        "end": now.isoformat(),
    }

    response = bob_client.post(preview_url(org_a.project.pk), body, content_type="application/json")

    assert response.status_code == 200, response.content  # a viewer may look, as with saved ones
    result = response.json()
    assert result["threshold"] == 2.0 and result["op"] == ">"
    assert result["would_fire"] == 1
    assert [t["to"] for t in result["transitions"]] == ["firing", "resolved"]
    assert max(v for _, v in result["series"][0]["points"]) == 4.0
    assert result["series"][0]["firing"][0][0] == int(
        datetime.fromisoformat(result["transitions"][0]["at"]).timestamp()
    )
    assert not Policy.objects.exists()


def test_a_bad_unsaved_policy_is_400_naming_its_fields(alice_client, org_a):
    bad = {"policy": {"name": "x", "kind": "log_count", "query": "level>>", "condition": {"window": "2d"}}}
    response = alice_client.post(preview_url(org_a.project.pk), bad, content_type="application/json")
    assert response.status_code == 400
    assert {"query", "window"} <= set(response.json()["error"]["details"])

    for body in ({}, {"policy": []}, {"policy": {"kind": "metric"}}, []):
        response = alice_client.post(preview_url(org_a.project.pk), body, content_type="application/json")
        assert response.status_code == 400, body


def test_the_policy_list_carries_each_instances_recent_values(alice_client, org_a):
    policy = make_policy(
        org_a.project, "log_count", {"query": "level>=error", "group_by": "service"}, name="e"
    )
    recent._redis().delete(recent.values_key(policy.pk))
    with time_machine.travel(BASE, tick=False):
        ingest(
            org_a.ingest_key,
            [log(1, BASE, service="api"), log(1, BASE, service="api"), log(1, BASE, service="web")],
        )
        evaluate(policy, BASE)
    later = BASE + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        ingest(org_a.ingest_key, [log(0.5, later, service="api")])
        evaluate(policy, later)

    (listed,) = alice_client.get(f"/api/v1/projects/{org_a.project.pk}/alerts/policies").json()

    by_service = {i["labels"]["service"]: i["recent_values"] for i in listed["instances"]}
    t0, t1 = int(BASE.timestamp()), int(later.timestamp())
    assert by_service == {"api": [[t0, 2.0], [t1, 3.0]], "web": [[t0, 1.0], [t1, 1.0]]}


def test_only_the_last_samples_are_kept(org_a):
    policy = make_policy(org_a.project, "log_count", {"query": "level>=error"}, name="e")
    key = recent.values_key(policy.pk)
    recent._redis().delete(key)
    sample = type("S", (), {"value": 1.0})()
    for minute in range(recent.KEEP + 5):
        recent.note_samples({policy.pk: {"{}": ({}, sample)}}, BASE + timedelta(minutes=minute))

    series = recent.recent_values([policy.pk])[policy.pk]["{}"]

    assert len(series) == recent.KEEP
    assert series[0][0] == int((BASE + timedelta(minutes=5)).timestamp())  # the oldest were dropped
    assert 0 < recent._redis().ttl(key) <= recent.TTL_SECONDS


def test_the_organization_summary_counts_policies_and_open_incidents_per_project(bob_client, org_a):
    from apps.alerts.models import Incident
    from apps.projects.models import Project

    other = Project.objects.create(organization=org_a.organization, name="quiet")
    policy = make_policy(org_a.project, "log_count", {"query": "level>=error"}, name="e")
    instance = policy.instances.create(labels={}, labels_key="{}")
    for state in ("firing", "acknowledged", "resolved"):
        Incident.objects.create(
            project=org_a.project,
            policy=policy,
            instance=instance,
            title="e",
            priority="P3",
            state=state,
            opened_at=BASE,
            resolved_at=BASE if state == "resolved" else None,
        )

    response = bob_client.get(f"/api/v1/orgs/{org_a.organization.pk}/alerts/summary")

    assert response.status_code == 200
    assert sorted(response.json()["projects"], key=lambda p: p["project"]) == [
        {"project": org_a.project.pk, "policies": 1, "open_incidents": 2, "firing": 1},
        {"project": other.pk, "policies": 0, "open_incidents": 0, "firing": 0},
    ]
