"""Durable delivery: from an alert transition to a real receiver, with retries, permanent
failures, a disabled channel, and a worker that dies between claiming and recording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from standardwebhooks.webhooks import Webhook

from apps.alerts.models import Transition
from apps.notifications import dispatch, outbound, sender
from apps.notifications.models import Attempt, Channel, Delivery, DeliveryState, Route
from tests.notifications.conftest import fire, make_channel, make_policy

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def webhook(org_a, receiver):
    return make_channel(org_a.organization, "webhook", {"url": receiver.url + "/hook"}, is_default=True)


def run(now: datetime) -> int:
    """One pass of the notification tasks at `now`: dispatch, flush due groups, send due rows."""
    dispatch.transitions_dispatch(now)
    dispatch.groups_flush(now)
    return sender.send_due(now=now)


def test_a_firing_transition_reaches_the_webhook_signed_after_group_wait(org_a, webhook, receiver):
    policy = make_policy(org_a.project)
    with time_machine.travel(T0, tick=False) as clock:
        fire(policy, {"service": "api"}, 42.0, T0)
        run(T0)
        assert receiver.requests == []  # group_wait (30 s for P3) holds it back

        clock.shift(30)
        run(T0 + timedelta(seconds=30))

        (request,) = receiver.requests
        body = Webhook(webhook.secret).verify(request.body, request.headers)
    assert body["type"] == "alert.firing"
    assert body["data"]["value"] == 42.0
    assert body["data"]["threshold"] == 10.0
    assert body["data"]["labels"] == {"service": "api"}
    assert body["data"]["policy"]["name"] == "API errors"
    assert request.headers["webhook-id"].startswith("msg_")
    assert Transition.objects.get(policy=policy).notified_at is not None
    assert Delivery.objects.get().state == DeliveryState.DELIVERED


def test_500_then_200_is_retried_after_about_five_seconds_with_the_same_id(org_a, webhook, receiver):
    policy = make_policy(org_a.project, priority="P1")  # P1: no group_wait
    receiver.answer(500, "busy")
    with time_machine.travel(T0, tick=False) as clock:
        fire(policy, {}, 50.0, T0)
        run(T0)
        delivery = Delivery.objects.get()
        assert delivery.state == DeliveryState.PENDING
        assert timedelta(seconds=4.5) <= delivery.next_attempt_at - T0 <= timedelta(seconds=5.5)

        clock.shift(3)
        run(T0 + timedelta(seconds=3))
        assert len(receiver.requests) == 1  # not yet

        clock.shift(3)
        run(T0 + timedelta(seconds=6))

    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    attempts = list(
        Attempt.objects.filter(delivery=delivery).values_list("status_code", "outcome", "response_excerpt")
    )
    assert attempts == [(500, "retry", "busy"), (200, "delivered", "ok")]


def test_429_waits_at_least_its_retry_after(org_a, webhook, receiver):
    policy = make_policy(org_a.project, priority="P1")
    receiver.answer(429, "slow down", {"Retry-After": "120"})
    with time_machine.travel(T0, tick=False) as clock:
        fire(policy, {}, 50.0, T0)
        run(T0)
        clock.shift(60)
        run(T0 + timedelta(seconds=60))
        assert len(receiver.requests) == 1
        clock.shift(61)
        run(T0 + timedelta(seconds=121))
    assert len(receiver.requests) == 2
    assert Delivery.objects.get().state == DeliveryState.DELIVERED


def test_410_disables_the_channel_with_a_warning(org_a, webhook, receiver):
    policy = make_policy(org_a.project, priority="P1")
    receiver.answer(410, "gone")
    with time_machine.travel(T0, tick=False):
        fire(policy, {}, 50.0, T0)
        run(T0)
    webhook.refresh_from_db()
    assert webhook.enabled is False
    assert "410" in webhook.warning
    assert Delivery.objects.get().state == DeliveryState.FAILED


def test_other_4xx_fail_at_once_and_the_owners_are_emailed(
    org_a, webhook, receiver, mailbox, django_capture_on_commit_callbacks
):
    policy = make_policy(org_a.project, priority="P1")
    receiver.answer(400, "bad payload")
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        fire(policy, {}, 50.0, T0)
        run(T0)
    assert len(receiver.requests) == 1
    assert Delivery.objects.get().state == DeliveryState.FAILED
    webhook.refresh_from_db()
    assert webhook.enabled is True
    assert "HTTP 400" in webhook.warning
    (mail,) = mailbox.messages
    assert mail["X-Envelope-To"] == "alice@acme.test"
    assert "could not deliver" in mail["Subject"]


def test_retries_follow_the_schedule_then_give_up(
    org_a, webhook, receiver, mailbox, django_capture_on_commit_callbacks
):
    policy = make_policy(org_a.project, priority="P1")
    receiver.default.status, receiver.default.body = 503, "down"
    when = T0
    with time_machine.travel(T0, tick=False) as clock, django_capture_on_commit_callbacks(execute=True):
        fire(policy, {}, 50.0, T0)
        run(T0)
        waits = []
        while Delivery.objects.get().state == DeliveryState.PENDING:
            due = Delivery.objects.get().next_attempt_at
            waits.append(round((due - when).total_seconds()))
            clock.move_to(due)
            when = due
            sender.send_due(now=due)  # only this delivery: reminders (P1: every 30 m) are not the point
    assert len(receiver.requests) == sender.MAX_ATTEMPTS == 7
    for wait, planned in zip(waits, sender.RETRY_DELAYS, strict=True):
        assert planned * 0.9 - 1 <= wait <= planned * 1.1 + 1
    assert Delivery.objects.get().state == DeliveryState.FAILED
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len(mailbox.messages) == 1


def test_a_timeout_is_retried(org_a, webhook, receiver, monkeypatch):
    monkeypatch.setattr(outbound, "TIMEOUT_SECONDS", 0.5)
    policy = make_policy(org_a.project, priority="P1")
    receiver.answer(200, "late", delay=1.5)
    with time_machine.travel(T0, tick=False):
        fire(policy, {}, 50.0, T0)
        run(T0)
    attempt = Attempt.objects.get()
    assert attempt.outcome == "retry"
    assert attempt.status_code is None
    assert "No answer within" in attempt.error


def test_a_worker_killed_between_claim_and_record_resends_with_the_same_id_once(org_a, webhook, receiver):
    policy = make_policy(org_a.project, priority="P1")
    with time_machine.travel(T0, tick=False) as clock:
        fire(policy, {}, 50.0, T0)
        dispatch.transitions_dispatch(T0)
        dispatch.groups_flush(T0)
        claimed = sender.delivery_claim(T0)
        assert claimed is not None
        # The worker sends, then dies before recording anything.
        from apps.notifications.transports import transport_for

        transport_for(Channel.objects.get(pk=claimed.channel_id)).send(webhook, claimed)
        assert sender.send_due(now=T0 + timedelta(seconds=30)) == 0  # the lease still holds

        clock.shift(sender.LEASE.total_seconds() + 1)
        assert sender.send_due(now=T0 + sender.LEASE + timedelta(seconds=1)) == 1
        assert sender.send_due(now=T0 + timedelta(hours=2)) == 0

    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == claimed.message_id
    assert Delivery.objects.get().state == DeliveryState.DELIVERED


def test_a_stalled_worker_cannot_overwrite_the_outcome_of_the_one_that_took_over(org_a, webhook, receiver):
    policy = make_policy(org_a.project, priority="P1")
    with time_machine.travel(T0, tick=False):
        fire(policy, {}, 50.0, T0)
        dispatch.transitions_dispatch(T0)
        dispatch.groups_flush(T0)
        stalled = sender.delivery_claim(T0)
        assert stalled is not None
        later = T0 + sender.LEASE + timedelta(seconds=1)
        taken_over = sender.delivery_claim(later)
        assert taken_over is not None and taken_over.pk == stalled.pk
        assert sender.delivery_send(taken_over) == "delivered"
        assert sender.delivery_send(stalled) == "superseded"
    assert Attempt.objects.count() == 1


def test_a_transition_is_claimed_by_one_dispatcher_only(org_a, webhook):
    policy = make_policy(org_a.project, priority="P1")
    fire(policy, {}, 50.0, T0)
    assert dispatch.transitions_dispatch(T0) == 1
    assert dispatch.transitions_dispatch(T0) == 0
    assert dispatch.groups_flush(T0) == 1
    assert dispatch.groups_flush(T0) == 0
    assert Delivery.objects.count() == 1


def test_a_route_by_priority_wins_over_the_default_channel(org_a, webhook, receiver):
    other = make_channel(org_a.organization, "webhook", {"url": receiver.url + "/p1"})
    Route.objects.create(organization=org_a.organization, channel=other, priorities=["P1"])
    p1 = make_policy(org_a.project, name="P1 policy", priority="P1")
    p3 = make_policy(org_a.project, name="P3 policy", priority="P3", labels={"team": "web"})
    with time_machine.travel(T0, tick=False):
        fire(p1, {}, 50.0, T0)
        fire(p3, {}, 50.0, T0)
        run(T0)
        run(T0 + timedelta(seconds=30))
    paths = sorted((r.path, r.json()["data"]["policy"]["name"]) for r in receiver.requests)
    assert paths == [("/hook", "P3 policy"), ("/p1", "P1 policy")]


def test_without_any_channel_nothing_is_queued_and_nothing_is_lost_later(org_a):
    policy = make_policy(org_a.project, priority="P1")
    fire(policy, {}, 50.0, T0)
    assert dispatch.transitions_dispatch(T0) == 1
    assert Delivery.objects.count() == 0
