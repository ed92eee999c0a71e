"""Alertmanager-style grouping: many instances firing together are one message per channel;
later changes wait for group_interval; open incidents are repeated; silences hold notices back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from apps.alerts.models import Incident
from apps.notifications import dispatch, sender
from apps.notifications.models import Delivery, Route, Silence
from tests.notifications.conftest import calm, fire, make_channel, make_policy

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def run(now: datetime) -> None:
    dispatch.transitions_dispatch(now)
    dispatch.groups_flush(now)
    sender.send_due(now=now)


def test_200_instances_firing_in_one_evaluation_are_one_message_per_channel(org_a, receiver):
    make_channel(org_a.organization, "webhook", {"url": receiver.url + "/a"}, is_default=True)
    make_channel(org_a.organization, "slack", {"url": receiver.url + "/b"}, is_default=True)
    policy = make_policy(org_a.project, priority="P2")
    with time_machine.travel(T0, tick=False) as clock:
        for n in range(200):
            fire(policy, {"host": f"web-{n:03}"}, 90.0 + n, T0)
        run(T0)
        clock.shift(30)
        run(T0 + timedelta(seconds=30))
        assert sorted(r.path for r in receiver.requests) == ["/a", "/b"]
        webhook = next(r.json() for r in receiver.requests if r.path == "/a")
        assert webhook["data"]["counts"]["firing"] == 200
        assert len(webhook["data"]["alerts"]) == 50  # listed; the rest counted
        assert webhook["type"] == "alert.firing"

        clock.shift(300)
        for n in range(200):
            calm(policy, {"host": f"web-{n:03}"}, 1.0, T0 + timedelta(seconds=330))
        run(T0 + timedelta(seconds=330))
        assert len(receiver.requests) == 4
    resolved = [r.json() for r in receiver.requests[2:] if r.path == "/a"]
    assert resolved[0]["type"] == "alert.resolved"
    assert resolved[0]["data"]["counts"]["resolved"] == 200


def test_open_incidents_are_repeated_after_repeat_interval_until_acknowledged(org_a, alice, receiver):
    make_channel(org_a.organization, "webhook", {"url": receiver.url}, is_default=True)
    policy = make_policy(org_a.project, priority="P1")  # repeat every 30 minutes
    with time_machine.travel(T0, tick=False) as clock:
        fire(policy, {}, 42.0, T0)
        run(T0)
        clock.shift(29 * 60)
        run(T0 + timedelta(minutes=29))
        assert len(receiver.requests) == 1
        clock.shift(60)
        run(T0 + timedelta(minutes=30))
        assert len(receiver.requests) == 2
        assert receiver.requests[1].json()["data"]["is_repeat"] is True

        from apps.alerts.incidents import incident_acknowledge

        incident_acknowledge(Incident.objects.get(), alice)
        clock.shift(60 * 60)
        run(T0 + timedelta(minutes=90))
    # The acknowledgement is announced; no reminder comes after it.
    assert [r.json()["type"] for r in receiver.requests] == [
        "alert.firing",
        "alert.firing",
        "alert.acknowledged",
    ]


def test_route_timing_overrides_the_defaults(org_a, receiver):
    channel = make_channel(org_a.organization, "webhook", {"url": receiver.url})
    Route.objects.create(organization=org_a.organization, channel=channel, group_wait_seconds=120)
    policy = make_policy(org_a.project, priority="P3")
    with time_machine.travel(T0, tick=False):
        fire(policy, {}, 42.0, T0)
        run(T0)
        run(T0 + timedelta(seconds=60))
        assert receiver.requests == []
        run(T0 + timedelta(seconds=120))
    assert len(receiver.requests) == 1


def test_resolved_notices_can_be_switched_off_per_channel(org_a, receiver):
    make_channel(org_a.organization, "webhook", {"url": receiver.url}, is_default=True, send_resolved=False)
    policy = make_policy(org_a.project, priority="P1")
    fire(policy, {}, 42.0, T0)
    run(T0)
    calm(policy, {}, 1.0, T0 + timedelta(minutes=10))
    run(T0 + timedelta(minutes=10))
    run(T0 + timedelta(minutes=20))
    assert [r.json()["type"] for r in receiver.requests] == ["alert.firing"]


def test_a_silence_with_regex_matchers_holds_back_matching_alerts_only(org_a, receiver):
    make_channel(org_a.organization, "webhook", {"url": receiver.url}, is_default=True)
    policy = make_policy(org_a.project, priority="P1")
    Silence.objects.create(
        project=org_a.project,
        matchers=[
            {"name": "host", "op": "=~", "value": "db-.*"},
            {"name": "env", "op": "!=", "value": "prod"},
        ],
        starts_at=T0 - timedelta(minutes=1),
        ends_at=T0 + timedelta(hours=1),
    )
    fire(policy, {"host": "db-1", "env": "staging"}, 42.0, T0)  # silenced
    fire(policy, {"host": "db-2", "env": "prod"}, 42.0, T0)  # env=prod: not silenced
    fire(policy, {"host": "web-1", "env": "staging"}, 42.0, T0)  # host does not match
    run(T0)
    (request,) = receiver.requests
    hosts = sorted(a["labels"]["host"] for a in request.json()["data"]["alerts"])
    assert hosts == ["db-2", "web-1"]
    assert Delivery.objects.count() == 1


def test_an_alert_that_fired_and_calmed_within_group_wait_sends_nothing(org_a, receiver):
    make_channel(org_a.organization, "webhook", {"url": receiver.url}, is_default=True)
    policy = make_policy(org_a.project, priority="P3")  # group_wait 30 s
    with time_machine.travel(T0, tick=False):
        fire(policy, {"host": "a"}, 42.0, T0)
        run(T0)
        calm(policy, {"host": "a"}, 1.0, T0 + timedelta(seconds=10))
        run(T0 + timedelta(seconds=10))
        run(T0 + timedelta(seconds=30))
        run(T0 + timedelta(minutes=10))
    assert receiver.requests == []
    assert Delivery.objects.count() == 0
