"""Alert kinds on error issues: events sent through the Sentry envelope endpoint, policies
evaluated by the scheduler at set times, and the notification carrying the issue's top frames
and a link to it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import orjson
import pytest
import time_machine

from apps.alerts import scheduler
from apps.alerts.models import Policy, Transition
from apps.errors.models import Issue
from apps.errors.services import issue_ignore, issue_resolve
from config.celery import app as celery_app
from tests.alerts.conftest import BASE, evaluate, make_policy
from tests.conftest import client_for
from tests.errors.conftest import dsn_key, exception_event, frame  # noqa: F401
from tests.errors.test_envelopes import envelope, request

pytestmark = pytest.mark.django_db


def send(key, kind: str = "ValueError", function: str = "charge", release: str = "", env: str = "") -> None:
    """One Sentry event of the bug `kind` raised in `function`, received now."""
    event = exception_event(
        kind,
        "bad input 17",
        [
            frame("shop.views", "checkout", "total = pay(cart)", lineno=40),
            frame("shop.billing", function, "raise ValueError(amount)", lineno=88),
        ],
        event_id=uuid.uuid4().hex,
        **({"release": release} if release else {}),
        **({"environment": env} if env else {}),
    )
    payload = orjson.dumps(event)
    reply = request(
        key.project_id,
        envelope(({"type": "event"}, payload)),
        query=f"sentry_key={key.public_key}",
    )
    assert reply.status == 200, reply.body


def at(minutes: float):
    return time_machine.travel(BASE + timedelta(minutes=minutes), tick=False)


def issue_of(kind: str) -> Issue:
    return Issue.objects.get(title__startswith=kind)


def test_a_new_issue_fires_once_per_issue_and_resolves_after_the_window(org_a, dsn_key):  # noqa: F811
    policy = make_policy(org_a.project, "new_issue", {}, window_seconds=300)
    with at(0):
        send(dsn_key)
        send(dsn_key)
    value_error = str(issue_of("ValueError").pk)
    with at(1):
        assert evaluate(policy, BASE + timedelta(minutes=1)) == [
            ("normal", "firing", 2.0, {"issue": value_error})
        ]
        send(dsn_key)  # the same issue again: nothing new
    with at(2):
        assert evaluate(policy, BASE + timedelta(minutes=2)) == []
        send(dsn_key, kind="KeyError", function="lookup")
    key_error = str(issue_of("KeyError").pk)
    with at(3):
        assert evaluate(policy, BASE + timedelta(minutes=3)) == [
            ("normal", "firing", 1.0, {"issue": key_error})
        ]
    with at(7):
        # ValueError's first sighting left the 5-minute window: its incident resolves.
        assert evaluate(policy, BASE + timedelta(minutes=7)) == [
            ("firing", "resolved", 0.0, {"issue": value_error})
        ]


def test_a_new_issue_policy_for_one_environment_ignores_the_others(org_a, dsn_key):  # noqa: F811
    policy = make_policy(org_a.project, "new_issue", {"environment": "production"})
    with at(0):
        send(dsn_key, env="staging")
    with at(1):
        assert evaluate(policy, BASE + timedelta(minutes=1)) == []
        send(dsn_key, kind="KeyError", env="production")
    with at(2):
        assert [t[:3] for t in evaluate(policy, BASE + timedelta(minutes=2))] == [("normal", "firing", 1.0)]


def test_a_regression_fires_for_the_regressed_issue_only(org_a, dsn_key):  # noqa: F811
    with at(-60):
        send(dsn_key, release="shop@1.0.0")
        send(dsn_key, kind="KeyError", release="shop@1.0.0")
    issue_resolve(issue_of("ValueError"), in_release="shop@1.1.0")
    issue_resolve(issue_of("KeyError"), in_release="shop@1.1.0")
    policy = make_policy(org_a.project, "issue_regression", {})
    with at(0):
        send(dsn_key, release="shop@1.0.0")  # the old release still running: no regression
    with at(1):
        assert evaluate(policy, BASE + timedelta(minutes=1)) == []
        send(dsn_key, kind="KeyError", release="shop@1.1.0")
    key_error = issue_of("KeyError")
    assert (key_error.status, key_error.substatus) == ("unresolved", "regressed")
    with at(2):
        assert evaluate(policy, BASE + timedelta(minutes=2)) == [
            ("normal", "firing", 1.0, {"issue": str(key_error.pk)})
        ]


def test_an_issue_ignored_until_two_more_events_fires_when_it_comes_back(org_a, dsn_key):  # noqa: F811
    with at(-60):
        send(dsn_key)
    issue_ignore(issue_of("ValueError"), until_count=2)
    policy = make_policy(org_a.project, "issue_unignored", {})
    with at(0):
        send(dsn_key)
    with at(1):
        assert evaluate(policy, BASE + timedelta(minutes=1)) == []
        send(dsn_key)
    issue = issue_of("ValueError")
    assert issue.status == "unresolved"
    with at(2):
        # Both events are in the window; the issue came back with the second.
        assert evaluate(policy, BASE + timedelta(minutes=2)) == [
            ("normal", "firing", 2.0, {"issue": str(issue.pk)})
        ]


def test_n_events_of_an_issue_in_t_per_issue_and_for_all_issues(org_a, dsn_key):  # noqa: F811
    each = make_policy(org_a.project, "issue_events", {}, op=">=", threshold=3, window_seconds=600)
    together = make_policy(
        org_a.project, "issue_events", {"per_issue": False}, op=">=", threshold=4, window_seconds=600
    )
    with at(0):
        for _ in range(2):
            send(dsn_key)
            send(dsn_key, kind="KeyError")
    value_error = issue_of("ValueError")
    one = make_policy(
        org_a.project, "issue_events", {"issue_id": value_error.pk}, op=">=", threshold=3, window_seconds=600
    )
    with at(1):
        assert evaluate(each, BASE + timedelta(minutes=1)) == []
        assert evaluate(together, BASE + timedelta(minutes=1)) == [("normal", "firing", 4.0, {})]
        assert evaluate(one, BASE + timedelta(minutes=1)) == []
        send(dsn_key)
    with at(2):
        assert evaluate(each, BASE + timedelta(minutes=2)) == [
            ("normal", "firing", 3.0, {"issue": str(value_error.pk)})
        ]
        assert evaluate(one, BASE + timedelta(minutes=2)) == [
            ("normal", "firing", 3.0, {"issue": str(value_error.pk)})
        ]
    with at(12):
        assert evaluate(each, BASE + timedelta(minutes=12)) == [
            ("firing", "resolved", 0.0, {"issue": str(value_error.pk)})
        ]


@pytest.fixture
def eager_worker():
    """Tasks run where they are queued, as a worker would run them at once."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def firing_issues(policy: Policy) -> list[str]:
    return [
        t.instance.labels["issue"]
        for t in Transition.objects.filter(policy=policy, to_state="firing").select_related("instance")
    ]


def test_a_new_issue_alert_fires_when_the_issue_appears_not_at_the_next_slot(
    org_a,
    dsn_key,  # noqa: F811
    eager_worker,
):
    policy = make_policy(org_a.project, "new_issue", {}, interval_seconds=300)
    later = BASE + timedelta(minutes=4)
    Policy.objects.filter(pk=policy.pk).update(next_due_at=later)  # evaluated a minute ago
    with time_machine.travel(BASE, tick=True):  # the clock moves on between arrival and evaluation
        send(dsn_key)
        assert firing_issues(policy) == [str(issue_of("ValueError").pk)]
        send(dsn_key)  # the same bug: nothing new, the slot stays where the evaluation put it
    policy.refresh_from_db()
    assert BASE + timedelta(minutes=5) < policy.next_due_at < later + timedelta(minutes=2)
    assert Transition.objects.filter(policy=policy).count() == 1


def test_a_regression_makes_only_regression_policies_due_at_once(org_a, dsn_key):  # noqa: F811
    with at(-60):
        send(dsn_key, release="shop@1.0.0")
    issue_resolve(issue_of("ValueError"), in_release="shop@1.1.0")
    later = BASE + timedelta(minutes=4)
    regression = make_policy(org_a.project, "issue_regression", {}, interval_seconds=300)
    unignored = make_policy(org_a.project, "issue_unignored", {}, interval_seconds=300)
    Policy.objects.filter(pk__in=[regression.pk, unignored.pk]).update(next_due_at=later)
    with at(0):
        send(dsn_key, release="shop@1.1.0")
    # No worker in this test: the slot is due now, and the beat tick takes it within 10 s.
    assert Policy.objects.get(pk=regression.pk).next_due_at == BASE
    assert Policy.objects.get(pk=unignored.pk).next_due_at == later


def test_a_new_issue_while_a_worker_holds_the_slot_keeps_the_policy_due_after_its_release(
    org_a,
    dsn_key,  # noqa: F811
):
    """The holder may have read before the issue existed: releasing must not move the slot 5
    minutes on (the alert waited that long) but leave it due for another evaluation."""
    policy = make_policy(org_a.project, "new_issue", {}, interval_seconds=300)
    Policy.objects.filter(pk=policy.pk).update(next_due_at=BASE)
    claim = scheduler.policy_claim(policy.pk, BASE)
    assert claim is not None
    with at(0.1):
        send(dsn_key)  # no worker in this test: the held policy is not queued, its release will be
    with at(0.2):
        scheduler.policy_evaluate(claim, BASE + timedelta(minutes=0.2))
    assert Policy.objects.get(pk=policy.pk).next_due_at == BASE + timedelta(minutes=0.1)


def test_bad_specs_of_error_kinds_are_400s_naming_the_field(org_a, alice):
    url = f"/api/v1/projects/{org_a.project.pk}/alerts/policies"
    client = client_for(alice)
    cases = [
        ("issue_events", {"issue_id": "17"}, "issue_id"),
        ("issue_events", {"issue_id": -1}, "issue_id"),
        ("issue_events", {"per_issue": "yes"}, "per_issue"),
        ("new_issue", {"environment": 5}, "environment"),
        ("issue_regression", {"query": "level>=error"}, "spec"),
    ]
    for kind, spec, field in cases:
        body = {
            "name": "n",
            "kind": kind,
            "spec": spec,
            "condition": {"op": ">", "threshold": 0, "window": "5m"},
        }
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 400, (kind, spec)
        assert field in response.json()["error"]["details"], (kind, spec)
    good = {
        "name": "New issues",
        "kind": "new_issue",
        "spec": {},
        "condition": {"op": ">", "threshold": 0, "window": "5m"},
    }
    created = client.post(url, good, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["spec"] == {"environment": ""}
