"""Held-back alerts stay visible, marked (issue 17 §4): GET .../alerts/quieted says which open
incidents and instances a silence, a maintenance window or an inhibition holds back. And
notification trouble is announced to open pages (§8): a channel's warning to the organization's
admins and to every project's Alerts tab, a new silence to its project's pages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from redis import asyncio as aioredis

from apps.alerts.models import AlertInstance, Incident, Kind
from apps.dashboards import live
from apps.notifications import dispatch, sender
from apps.notifications.models import MaintenanceWindow, Silence
from apps.projects.models import Project
from tests.dashboards.live_client import forget_live_state
from tests.notifications.conftest import fire, make_channel, make_policy

NOW = datetime.now(UTC).replace(microsecond=0)


def quieted(client, project_id: int) -> dict:
    response = client.get(f"/api/v1/projects/{project_id}/alerts/quieted")
    assert response.status_code == 200, response.content
    return response.json()


def test_silenced_inhibited_and_maintenance_alerts_are_named_with_their_reason(bob_client, org_a):
    errors = make_policy(org_a.project, name="API errors", labels={"team": "core"})
    fire(errors, {"service": "api"}, 42.0, NOW)
    fire(errors, {"service": "web"}, 42.0, NOW)
    fire(errors, {"service": "search"}, 42.0, NOW)
    fire(errors, {"service": "billing"}, 42.0, NOW)
    down = make_policy(
        org_a.project, name="web down", kind=Kind.ABSENCE, spec={"source": "logs", "group_by": "service"}
    )
    fire(down, {"service": "web"}, 0.0, NOW)
    Silence.objects.create(
        project=org_a.project,
        matchers=[
            {"name": "service", "op": "=", "value": "api"},
            {"name": "team", "op": "=", "value": "core"},
        ],
        starts_at=NOW - timedelta(minutes=1),
        ends_at=NOW + timedelta(hours=1),
    )
    MaintenanceWindow.objects.create(
        project=org_a.project,
        name="search reindex",
        weekdays=list(range(7)),
        start_time=time(0),
        end_time=time(23, 59, 59),
        matchers=[{"name": "service", "op": "=", "value": "search"}],
    )

    answer = quieted(bob_client, org_a.project.pk)  # a viewer sees why, as the Alerts tab shows

    def incident_of(policy, service):
        return str(Incident.objects.get(policy=policy, labels__service=service).pk)

    def instance_of(policy, service):
        return str(AlertInstance.objects.get(policy=policy, labels__service=service).pk)

    assert answer["incidents"] == {
        incident_of(errors, "api"): "silenced",
        incident_of(errors, "search"): "maintenance",
        incident_of(errors, "web"): "inhibited",  # web is down: its errors are a symptom
    }
    assert answer["instances"] == {
        instance_of(errors, "api"): "silenced",
        instance_of(errors, "search"): "maintenance",
        instance_of(errors, "web"): "inhibited",
    }


def test_an_expired_silence_marks_nothing(alice_client, org_a):
    policy = make_policy(org_a.project)
    fire(policy, {"service": "api"}, 42.0, NOW)
    Silence.objects.create(
        project=org_a.project,
        policy=policy,
        matchers=[],
        starts_at=NOW - timedelta(hours=2),
        ends_at=NOW - timedelta(hours=1),
    )
    assert quieted(alice_client, org_a.project.pk) == {"incidents": {}, "instances": {}}


def stream_kinds(project_id: int) -> list[str]:
    async def go() -> list[str]:
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            return [e["kind"] for e in (await live.read_after(client, project_id, 0)).events]
        finally:
            await client.aclose()

    assert live.drain()
    return asyncio.run(go())


def test_a_delivery_given_up_is_announced_to_every_projects_alerts_tab(
    org_a, receiver, django_capture_on_commit_callbacks
):
    other = Project.objects.create(organization=org_a.organization, name="shop (staging)")
    forget_live_state(org_a.project.pk, other.pk)
    live.reset()
    make_channel(org_a.organization, "webhook", {"url": receiver.url}, is_default=True)
    fire(make_policy(org_a.project, priority="P1"), {}, 42.0, NOW)
    receiver.answer(400, "bad payload")  # a permanent failure: given up at once, the channel warned
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.transitions_dispatch(NOW)
        dispatch.groups_flush(NOW)
        sender.send_due(now=NOW)

    assert stream_kinds(org_a.project.pk) == ["notifications"]
    assert stream_kinds(other.pk) == ["notifications"]


def test_a_silence_made_through_the_api_is_announced_to_its_project(
    alice_client, org_a, django_capture_on_commit_callbacks
):
    forget_live_state(org_a.project.pk)
    live.reset()
    body = {"matchers": [{"name": "service", "op": "=", "value": "api"}], "duration": "1h"}
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            f"/api/v1/projects/{org_a.project.pk}/alerts/silences", body, content_type="application/json"
        )
    assert response.status_code == 201, response.content
    assert stream_kinds(org_a.project.pk) == ["notifications"]
