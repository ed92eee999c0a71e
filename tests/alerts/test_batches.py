"""One evaluation batch writes many instances, incidents and transitions in a few statements:
the result is the same as evaluating each policy alone, and the statements do not grow with the
groups that change state."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.alerts import scheduler
from apps.alerts.models import AlertInstance, Incident, Policy, Transition
from tests.alerts.conftest import BASE, log, make_policy
from tests.telemetry import ingest_logs as ingest

pytestmark = pytest.mark.django_db

NOW = BASE
SERVICES = ["api", "web", "checkout", "payments", "auth"]


def evaluate_all(now) -> dict[int, list[Transition]]:
    Policy.objects.update(next_due_at=now, claim_token=None)
    return scheduler.claims_evaluate(scheduler.policies_claim(now), now)


def test_groups_firing_together_each_get_their_incident_and_lose_it_on_resolving(org_a):
    policy = make_policy(
        org_a.project, "log_count", {"query": "level>=error", "group_by": "service"}, threshold=0
    )
    with time_machine.travel(NOW, tick=False):
        ingest(org_a.ingest_key, [log(1, NOW, service=s) for s in SERVICES])
        written = evaluate_all(NOW)[policy.pk]
    assert sorted((t.from_state, t.to_state, t.instance.labels["service"]) for t in written) == [
        ("normal", "firing", s) for s in sorted(SERVICES)
    ]
    incidents = {i.instance_id: i for i in Incident.objects.filter(policy=policy)}
    assert len(incidents) == 5
    for instance in AlertInstance.objects.filter(policy=policy):
        assert instance.incident_id == incidents[instance.pk].pk  # the open incident, by instance
        assert (instance.state, instance.last_value, instance.last_evaluated_at) == ("firing", 1.0, NOW)
    assert {t.incident_id for t in Transition.objects.filter(policy=policy)} == {
        i.pk for i in incidents.values()
    }

    later = NOW + timedelta(minutes=6)  # the errors have left the window
    with time_machine.travel(later, tick=False):
        written = evaluate_all(later)[policy.pk]
    assert sorted((t.from_state, t.to_state, t.value) for t in written) == [("firing", "resolved", 0.0)] * 5
    assert all(t.incident_id == incidents[t.instance_id].pk for t in written)
    assert set(Incident.objects.filter(policy=policy).values_list("state", "resolved_at")) == {
        ("resolved", later)
    }
    assert set(AlertInstance.objects.filter(policy=policy).values_list("state", "incident")) == {
        ("resolved", None)
    }


def test_an_incident_resolved_by_a_member_keeps_its_time_when_the_evaluator_also_resolves(org_a):
    policy = make_policy(org_a.project, "log_count", {"query": "level>=error"}, threshold=0)
    with time_machine.travel(NOW, tick=False):
        ingest(org_a.ingest_key, [log(1, NOW)])
        evaluate_all(NOW)
    incident = Incident.objects.get(policy=policy)
    from apps.alerts.incidents import incident_resolve

    by_hand = NOW + timedelta(minutes=1)
    incident_resolve(incident, None, by_hand)
    later = NOW + timedelta(minutes=6)
    with time_machine.travel(later, tick=False):
        assert evaluate_all(later)[policy.pk] == []  # resolved by hand: nothing left to resolve
    incident.refresh_from_db()
    assert (incident.state, incident.resolved_at) == ("resolved", by_hand)


def test_the_write_statements_of_a_batch_do_not_grow_with_the_groups_that_change(org_a):
    few = make_policy(org_a.project, "log_count", {"query": "service:api", "group_by": "service"}, name="few")
    many = make_policy(
        org_a.project, "log_count", {"query": "level>=error", "group_by": "service"}, name="many"
    )
    with time_machine.travel(NOW, tick=False):
        ingest(org_a.ingest_key, [log(1, NOW, service=s) for s in SERVICES])
        Policy.objects.update(next_due_at=NOW, claim_token=None)
        statements = {}
        for policy in (few, many):
            claim = scheduler.policy_claim(policy.pk, NOW)
            assert claim is not None
            with CaptureQueriesContext(connection) as captured:
                written = scheduler.claims_evaluate([claim], NOW)[policy.pk]
            statements[policy.name] = (len(written), len(captured.captured_queries))
    assert statements["few"][0] == 1 and statements["many"][0] == 5
    assert statements["few"][1] == statements["many"][1]
