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
from tests.alerts.conftest import BASE, ingest_spans, log, make_policy, span
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


def policy_mix(project):
    """Policies of every groupable kind, two windows, with and without groups."""
    return [
        make_policy(project, "log_count", {"query": "level>=error"}, name="errors"),
        make_policy(
            project, "log_count", {"query": "level>=error", "group_by": "service"}, name="by service"
        ),
        make_policy(project, "log_count", {"query": '"timeout"', "group_by": "attr.route"}, name="by route"),
        make_policy(project, "log_count", {"query": "level>=warn"}, name="warn 1h", window_seconds=3600),
        make_policy(project, "log_ratio", {"query": "level>=error", "group_by": "service"}, name="ratio"),
        make_policy(project, "span", {"measure": "error_ratio", "group_by": "service"}, name="span errors"),
        make_policy(project, "span", {"measure": "p95", "service": "checkout"}, name="p95"),
        make_policy(project, "span", {"measure": "count", "name": "POST /pay"}, name="pays"),
        make_policy(project, "absence", {"source": "any", "group_by": "service"}, name="gone", op="<"),
        make_policy(project, "absence", {"source": "spans"}, name="no spans", op="<", threshold=1),
    ]


def test_policies_read_together_measure_the_same_as_each_read_alone(org_a, org_b):
    from apps.alerts.evaluators import measure, measure_batch

    policies = policy_mix(org_a.project) + policy_mix(org_b.project)
    with time_machine.travel(NOW, tick=False):
        for tenant, services in ((org_a, SERVICES), (org_b, SERVICES[:2])):
            ingest(
                tenant.ingest_key,
                [log(1, NOW, service=s) for s in services]
                + [log(2, NOW, message="upstream timeout", level="warn", route="/pay", service="api")]
                + [log(30, NOW, level="warn", service="web")],
            )
            start = NOW - timedelta(minutes=2)
            spans = [span(start, 100 + 10 * i, n=i, error=i % 3 == 0) for i in range(9)]
            ingest_spans(tenant.ingest_key, [*spans, span(start, 900, name="POST /pay", n=30)])
        known = {p.pk: {} for p in policies}
        alone = {p.pk: measure(p, NOW, known[p.pk]) for p in policies}
        with CaptureQueriesContext(connection) as captured:
            together = measure_batch(policies, NOW, known)
    assert together == alone
    # Something was measured (not two empty answers agreeing), and the two tenants apart.
    values = {p.name + str(p.project_id): sorted(s.value for _, s in alone[p.pk].values()) for p in policies}
    assert values["by service" + str(org_a.project.pk)] == [1.0] * 5
    assert values["by service" + str(org_b.project.pk)] == [1.0] * 2
    assert values["warn 1h" + str(org_a.project.pk)] == [7.0]
    # Grouped: one statement per kind of read and window, whatever the policies and projects.
    reads = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(reads) < len(policies) / 2, reads


def test_a_batch_of_policies_writes_the_transitions_each_would_write_alone(org_a):
    together = policy_mix(org_a.project)
    with time_machine.travel(NOW, tick=False):
        ingest(org_a.ingest_key, [log(1, NOW, service=s) for s in SERVICES])
        ingest_spans(org_a.ingest_key, [span(NOW - timedelta(minutes=1), 100, error=True)])
        written = evaluate_all(NOW)
        batch = {p.name: sorted((t.from_state, t.to_state, t.value) for t in written[p.pk]) for p in together}
        Policy.objects.all().delete()
        alone = {}
        for policy in policy_mix(org_a.project):
            Policy.objects.filter(pk=policy.pk).update(next_due_at=NOW)
            rows = scheduler.evaluate_due(policy.pk, NOW)
            alone[policy.name] = sorted((t.from_state, t.to_state, t.value) for t in rows)
    assert batch == alone
    assert batch["by service"] == [("normal", "firing", 1.0)] * 5
