"""Heartbeats: pings through the public URL, late and failed monitors fire, cron schedules are
DST-correct in the monitor's time zone."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.alerts import scheduler
from apps.alerts.models import Heartbeat, Policy, Transition
from apps.alerts.services import heartbeat_create
from apps.alerts.tasks import evaluate_policy
from tests.alerts.conftest import BASE, evaluate

pytestmark = pytest.mark.django_db


def monitor(org, **fields) -> Heartbeat:
    defaults = {"name": "nightly backup", "period_seconds": 3600, "grace_seconds": 600}
    return heartbeat_create(org.project, {**defaults, **fields}, actor=org.owner)


def ping(client, heartbeat: Heartbeat, suffix: str = "", method: str = "get"):
    return getattr(client, method)(f"/ping/{heartbeat.uuid}{suffix}")


def test_a_monitor_that_is_late_by_more_than_its_grace_fires_and_a_ping_resolves_it(client, org_a):
    heartbeat = monitor(org_a)
    with time_machine.travel(BASE, tick=False):
        assert ping(client, heartbeat, method="post").status_code == 200
    policy = heartbeat.policy
    on_time = BASE + timedelta(hours=1, minutes=9)
    with time_machine.travel(on_time, tick=False):
        assert evaluate(policy, on_time) == []
    late = BASE + timedelta(hours=1, minutes=11)
    with time_machine.travel(late, tick=False):
        assert evaluate(policy, late) == [("normal", "firing", 1.0, {})]
    back = late + timedelta(minutes=1)
    with time_machine.travel(back, tick=False):
        assert ping(client, heartbeat).status_code == 200
        # The ping made the policy due at once: no waiting for the next minute.
        assert Policy.objects.get(pk=policy.pk).next_due_at == back
        assert evaluate(policy, back) == [("firing", "resolved", 0.0, {})]


def test_a_never_pinged_monitor_is_new_not_down(org_a):
    heartbeat = monitor(org_a)
    much_later = BASE + timedelta(days=3)
    with time_machine.travel(much_later, tick=False):
        assert evaluate(heartbeat.policy, much_later) == []


def test_a_fail_ping_fires_at_once(client, org_a):
    heartbeat = monitor(org_a)
    with time_machine.travel(BASE, tick=False):
        assert ping(client, heartbeat, "/fail", method="post").status_code == 200
        assert evaluate(heartbeat.policy, BASE) == [("normal", "firing", 1.0, {})]


def test_a_fail_ping_hands_its_policy_to_a_worker_at_once_not_to_a_later_batch(
    client, org_a, settings, django_capture_on_commit_callbacks
):
    import redis

    heartbeat = monitor(org_a)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")
    try:
        with time_machine.travel(BASE, tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                assert ping(client, heartbeat, "/fail", method="post").status_code == 200
            queued = [json.loads(body) for body in broker.lrange("celery", 0, -1)]
            assert [(m["headers"]["task"], m["headers"]["eta"]) for m in queued] == [
                ("apps.alerts.tasks.evaluate_policy", None)
            ]
            # The task's body, as the worker runs it on receipt: the failure fires now.
            assert evaluate_policy(heartbeat.policy_id) == 1
    finally:
        broker.delete("celery")
        broker.close()
    assert Transition.objects.filter(policy_id=heartbeat.policy_id).get().to_state == "firing"


def test_a_ping_while_a_worker_holds_the_slot_is_evaluated_again_after_its_release(
    client, org_a, settings, django_capture_on_commit_callbacks
):
    """The holder may have read the heartbeat before the ping: its release must not move the
    slot on (that lost the ping's evaluation until the next slot) but keep it due and queue it."""
    import redis

    heartbeat = monitor(org_a)
    policy_id = heartbeat.policy_id
    slot = BASE + timedelta(minutes=1)
    Policy.objects.filter(pk=policy_id).update(next_due_at=slot)
    claim = scheduler.policy_claim(policy_id, slot)  # a worker holds the slot
    assert claim is not None
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")
    try:
        pinged = slot + timedelta(seconds=5)
        with time_machine.travel(pinged, tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                assert ping(client, heartbeat, "/fail", method="post").status_code == 200
            assert evaluate_policy(policy_id) is None  # its own task finds the slot held
            broker.delete("celery")
            with django_capture_on_commit_callbacks(execute=True):
                scheduler.policy_evaluate(claim, pinged)  # the holder commits
            queued = [json.loads(body)["headers"]["task"] for body in broker.lrange("celery", 0, -1)]
            assert queued.count("apps.alerts.tasks.evaluate_policy") == 1
            assert Policy.objects.get(pk=policy_id).next_due_at == pinged  # still due
            assert evaluate_policy(policy_id) is not None  # and evaluated again
    finally:
        broker.delete("celery")
        broker.close()
    assert Policy.objects.get(pk=policy_id).next_due_at > pinged
    assert [t.to_state for t in Transition.objects.filter(policy_id=policy_id)] == ["firing"]


def test_a_started_run_that_does_not_finish_within_the_grace_fires(client, org_a):
    heartbeat = monitor(org_a, grace_seconds=300)
    with time_machine.travel(BASE, tick=False):
        ping(client, heartbeat)
    with time_machine.travel(BASE + timedelta(minutes=1), tick=False):
        assert ping(client, heartbeat, "/start").status_code == 200
    running = BASE + timedelta(minutes=5)
    with time_machine.travel(running, tick=False):
        assert evaluate(heartbeat.policy, running) == []
    stuck = BASE + timedelta(minutes=7)
    with time_machine.travel(stuck, tick=False):
        assert evaluate(heartbeat.policy, stuck) == [("normal", "firing", 1.0, {})]


def test_unknown_ping_uuids_are_404_and_pings_need_no_session_or_csrf(org_a):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    assert csrf_client.post(f"/ping/{uuid.uuid4()}").status_code == 404
    assert csrf_client.get(f"/ping/{uuid.uuid4()}/fail").status_code == 404
    assert csrf_client.get("/ping/not-a-uuid").status_code == 404
    heartbeat = monitor(org_a)
    assert csrf_client.post(f"/ping/{heartbeat.uuid}").status_code == 200
    assert csrf_client.put(f"/ping/{heartbeat.uuid}").status_code == 405


UTC_ = UTC


def test_a_daily_0230_cron_check_across_the_spring_forward_night(client, org_a):
    """Europe/Berlin, 28 March 2027: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist and
    the job is due at 03:00 CEST (01:00 UTC). A UTC-minded schedule would expect it at 01:30 UTC
    (one day after the last run) and a naive local one at 02:30 UTC."""
    heartbeat = monitor(
        org_a, schedule_kind="cron", cron="30 2 * * *", tz="Europe/Berlin", grace_seconds=1800
    )
    ran = datetime(2027, 3, 27, 1, 30, 20, tzinfo=UTC_)  # 02:30:20 CET, the day before
    with time_machine.travel(ran, tick=False):
        assert ping(client, heartbeat).status_code == 200
    # Due 01:00 UTC + 30 min grace: fine at 01:29 UTC, down at 01:31 UTC.
    for moment, expected in (
        (datetime(2027, 3, 28, 1, 29, tzinfo=UTC_), []),
        (datetime(2027, 3, 28, 1, 31, tzinfo=UTC_), [("normal", "firing", 1.0, {})]),
    ):
        with time_machine.travel(moment, tick=False):
            assert evaluate(heartbeat.policy, moment) == expected, moment
    # It ran at 03:00:10 CEST; the next run is 02:30 CEST (00:30 UTC) on the 29th.
    ran = datetime(2027, 3, 28, 1, 0, 10, tzinfo=UTC_)
    with time_machine.travel(ran, tick=False):
        ping(client, heartbeat)
        assert evaluate(heartbeat.policy, ran) == [("firing", "resolved", 0.0, {})]
    for moment, expected in (
        (datetime(2027, 3, 29, 0, 59, tzinfo=UTC_), []),
        (datetime(2027, 3, 29, 1, 1, tzinfo=UTC_), [("resolved", "firing", 1.0, {})]),
    ):
        with time_machine.travel(moment, tick=False):
            assert evaluate(heartbeat.policy, moment) == expected, moment


def test_a_heartbeat_creates_its_policy_and_deleting_it_removes_both(org_a):
    from apps.alerts.services import heartbeat_delete

    heartbeat = monitor(org_a)
    policy = heartbeat.policy
    assert (policy.kind, policy.name, policy.spec) == (
        "heartbeat",
        "nightly backup",
        {"heartbeat": str(heartbeat.uuid)},
    )
    heartbeat_delete(heartbeat, actor=org_a.owner)
    assert not Policy.objects.filter(pk=policy.pk).exists()
    assert not Heartbeat.objects.filter(pk=heartbeat.pk).exists()
