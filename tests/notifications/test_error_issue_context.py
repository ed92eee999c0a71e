"""The notification of an error-issue alert: events through the Sentry endpoint, the policy
evaluated by the scheduler, the transition dispatched and sent to a real local receiver — and
the message carries the issue's top frames and a link to it."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.template.loader import render_to_string

from apps.alerts.models import Policy, Transition
from apps.notifications import dispatch, sender
from apps.notifications.messages import notice_build
from apps.notifications.transports.slack import slack_message
from tests.alerts.conftest import BASE, _fresh_process_caches, evaluate, make_policy  # noqa: F401
from tests.alerts.test_error_kinds import at, eager_worker, issue_of, send  # noqa: F401
from tests.errors.conftest import dsn_key  # noqa: F401
from tests.notifications.conftest import make_channel


def test_the_notification_carries_the_top_frames_and_a_link_to_the_issue(org_a, dsn_key, receiver):  # noqa: F811
    make_channel(org_a.organization, "webhook", {"url": receiver.url}, is_default=True)
    policy = make_policy(org_a.project, "new_issue", {}, priority="P1")  # P1: no group wait
    with at(0):
        send(dsn_key)
    issue = issue_of("ValueError")
    now = BASE + timedelta(minutes=1)
    with time_machine.travel(now, tick=False):
        assert evaluate(policy, now)[0][:2] == ("normal", "firing")
        dispatch.transitions_dispatch(now)
        dispatch.groups_flush(now)
        sender.send_due(now=now)

    data = receiver.requests[0].json()["data"]
    context = data["context"]["issue"]
    assert context["title"] == "ValueError: bad input 17"
    # Innermost first: where it was raised, then its caller.
    assert context["frames"] == [
        "shop.billing in charge line 88: raise ValueError(amount)",
        "shop.views in checkout line 40: total = pay(cart)",
    ]
    issue_url = f"https://vigil.example.com/projects/{org_a.project.pk}/issues/{issue.pk}/"
    assert context["url"] == data["links"]["issue"] == issue_url
    notice = notice_build(policy, list(Transition.objects.filter(policy=policy)), now)
    slack = slack_message(notice)
    assert any(
        issue_url in str(block) and "shop.billing in charge" in str(block) for block in slack["blocks"]
    )
    text = render_to_string("notifications/notice.txt", {"notice": notice})
    assert "raise ValueError(amount)" in text and issue_url in text


def test_a_p1_new_issue_alert_is_sent_when_the_issue_appears_without_waiting_for_a_tick(
    org_a,
    dsn_key,  # noqa: F811
    receiver,
    eager_worker,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    """The grouper makes the policy due and queues its evaluation; the evaluation's commit queues
    the dispatch, which queues the send. Nothing here runs a beat tick: before, the message
    waited for the 5 s dispatch tick."""
    make_channel(org_a.organization, "webhook", {"url": receiver.url}, is_default=True)
    policy = make_policy(org_a.project, "new_issue", {}, priority="P1", interval_seconds=300)
    Policy.objects.filter(pk=policy.pk).update(next_due_at=BASE + timedelta(minutes=4))
    with time_machine.travel(BASE, tick=True), django_capture_on_commit_callbacks(execute=True):
        send(dsn_key)
    assert len(receiver.requests) == 1
    data = receiver.requests[0].json()["data"]
    assert data["context"]["issue"]["title"] == "ValueError: bad input 17"
    assert Transition.objects.get(policy=policy).notified_at is not None
