"""Each policy kind evaluated on telemetry written through the real ingestion endpoints: the exact
transitions and values."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from apps.alerts.models import AlertInstance, Incident, Transition
from apps.logs.counts import count_logs
from apps.metrics.rollups import rollup_run
from tests.alerts.conftest import BASE, evaluate, ingest_metrics, ingest_spans, log, make_policy, span
from tests.telemetry import ingest_logs as ingest

pytestmark = pytest.mark.django_db

NOW = BASE


def test_log_count_fires_on_matching_logs_and_resolves_when_they_stop(org_a):
    policy = make_policy(
        org_a.project, "log_count", {"query": "level>=error service:api"}, threshold=2, window_seconds=300
    )
    with time_machine.travel(NOW, tick=False):
        ingest(
            org_a.ingest_key,
            [
                log(1, NOW),
                log(2, NOW),
                log(3, NOW),
                log(1, NOW, level="info"),  # not an error
                log(1, NOW, service="web"),  # another service
                log(6, NOW),  # before the window
            ],
        )
        assert evaluate(policy, NOW) == [("normal", "firing", 3.0, {})]
    later = NOW + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        assert evaluate(policy, later) == []  # the three are still inside the 5 m window
    later = NOW + timedelta(minutes=6)
    with time_machine.travel(later, tick=False):
        assert evaluate(policy, later) == [("firing", "resolved", 0.0, {})]

    incident = Incident.objects.get(policy=policy)
    assert (incident.opened_at, incident.resolved_at, incident.opened_value) == (NOW, later, 3.0)
    assert incident.resolved_by is None
    rows = list(Transition.objects.filter(policy=policy).values_list("threshold", "incident_id", "notify"))
    assert rows == [(2.0, incident.pk, True), (2.0, incident.pk, True)]


def test_log_count_group_by_service_makes_one_instance_per_service(org_a):
    policy = make_policy(
        org_a.project, "log_count", {"query": "level>=error", "group_by": "service"}, threshold=2
    )
    with time_machine.travel(NOW, tick=False):
        ingest(
            org_a.ingest_key, [log(1, NOW, service="api") for _ in range(3)] + [log(1, NOW, service="web")]
        )
        assert evaluate(policy, NOW) == [("normal", "firing", 3.0, {"service": "api"})]
    later = NOW + timedelta(minutes=6)
    with time_machine.travel(later, tick=False):
        ingest(org_a.ingest_key, [log(1, later, service="web") for _ in range(5)])
        assert sorted(evaluate(policy, later), key=str) == [
            ("firing", "resolved", 0.0, {"service": "api"}),
            ("normal", "firing", 5.0, {"service": "web"}),
        ]
    states = dict(AlertInstance.objects.filter(policy=policy).values_list("labels_key", "state"))
    assert states == {'{"service":"api"}': "resolved", '{"service":"web"}': "firing"}


def test_log_count_group_by_attribute(org_a):
    policy = make_policy(
        org_a.project, "log_count", {"query": "level>=error", "group_by": "attr.region"}, threshold=1
    )
    with time_machine.travel(NOW, tick=False):
        ingest(
            org_a.ingest_key, [log(1, NOW, region="eu"), log(1, NOW, region="eu"), log(1, NOW, region="us")]
        )
        assert evaluate(policy, NOW) == [("normal", "firing", 2.0, {"attr.region": "eu"})]


def test_log_ratio_is_a_percentage_of_all_logs(org_a):
    policy = make_policy(org_a.project, "log_ratio", {"query": "level>=error"}, threshold=10, for_seconds=60)
    with time_machine.travel(NOW, tick=False):
        ingest(org_a.ingest_key, [log(1, NOW)] + [log(1, NOW, level="info") for _ in range(3)])
        assert evaluate(policy, NOW) == [("normal", "pending", 25.0, {})]
    later = NOW + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        assert evaluate(policy, later) == [("pending", "firing", 25.0, {})]


def test_log_ratio_without_any_logs_is_no_data_not_zero(org_a):
    policy = make_policy(
        org_a.project, "log_ratio", {"query": "level>=error"}, threshold=10, no_data="firing"
    )
    with time_machine.travel(NOW, tick=False):
        assert evaluate(policy, NOW) == [("normal", "firing", None, {})]
    assert AlertInstance.objects.get(policy=policy).health == "no_data"


def gauge(name: str, value: float, minutes_ago: float, **labels: str) -> dict:
    return {
        "name": name,
        "type": "gauge",
        "value": value,
        "timestamp": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        "labels": labels,
    }


def test_metric_average_per_host_from_raw_points_and_from_rollups(org_a):
    policy = make_policy(
        org_a.project,
        "metric",
        {"name": "system.cpu.utilization", "agg": "avg", "group_by": ["host"]},
        threshold=0.8,
        resolve_threshold=0.5,
    )
    with time_machine.travel(NOW, tick=False):
        ingest_metrics(
            org_a.ingest_key,
            [
                gauge("system.cpu.utilization", 0.9, 3, host="a"),
                gauge("system.cpu.utilization", 0.8, 2, host="a"),
                gauge("system.cpu.utilization", 0.2, 2, host="b"),
                gauge("system.cpu.utilization", 0.99, 9, host="b"),  # outside the 5 m window
            ],
        )
        first = evaluate(policy, NOW)
        assert [(f, t, round(v, 6), labels) for f, t, v, labels in first] == [
            ("normal", "firing", 0.85, {"host": "a"})
        ]
        # The same value once the minutes are rolled up (read from metrics_rollup_1m, not raw).
        rollup_run(NOW)
        assert evaluate(policy, NOW) == []
        assert AlertInstance.objects.get(policy=policy, labels={"host": "a"}).last_value == pytest.approx(
            0.85
        )
    later = NOW + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        # 0.6 is below the threshold but above the resolve threshold: still firing (hysteresis).
        ingest_metrics(org_a.ingest_key, [gauge("system.cpu.utilization", 0.1, -0.5, host="a")])
        assert evaluate(policy, later) == []
        assert AlertInstance.objects.get(policy=policy, labels={"host": "a"}).last_value == pytest.approx(0.6)


def test_metric_last_and_ratio_of_two_metrics(org_a):
    policy = make_policy(
        org_a.project,
        "metric",
        {"name": "queue.depth", "agg": "last", "divide_by": {"name": "queue.capacity", "agg": "last"}},
        threshold=0.5,
    )
    with time_machine.travel(NOW, tick=False):
        ingest_metrics(
            org_a.ingest_key,
            [
                gauge("queue.depth", 90, 3),
                gauge("queue.depth", 60, 1),
                gauge("queue.capacity", 100, 2),
            ],
        )
        assert evaluate(policy, NOW) == [("normal", "firing", 0.6, {})]


def test_a_metric_the_project_does_not_have_stays_quiet(org_a):
    policy = make_policy(
        org_a.project, "metric", {"name": "system.memory.utilization", "agg": "avg"}, threshold=0.9
    )
    with time_machine.travel(NOW, tick=False):
        assert evaluate(policy, NOW) == []
    assert AlertInstance.objects.get(policy=policy).health == "no_data"


def test_span_error_ratio_and_latency_percentile(org_a):
    errors = make_policy(
        org_a.project, "span", {"measure": "error_ratio", "service": "checkout"}, threshold=5
    )
    latency = make_policy(org_a.project, "span", {"measure": "p95", "group_by": "name"}, threshold=2000)
    with time_machine.travel(NOW, tick=False):
        start = NOW - timedelta(minutes=2)
        spans = [span(start, 100, n=i) for i in range(18)]
        spans += [span(start, 100, error=True, n=18), span(start, 100, error=True, n=19)]
        spans += [span(start, 3000, name="POST /pay", n=20 + i) for i in range(3)]
        ingest_spans(org_a.ingest_key, spans)
        ingest_spans(org_a.ingest_key, [span(start, 100, error=True, n=40)], service="search")
        assert evaluate(errors, NOW) == [("normal", "firing", pytest.approx(100 * 2 / 23), {})]
        assert evaluate(latency, NOW) == [("normal", "firing", 3000.0, {"name": "POST /pay"})]


def test_absence_fires_for_a_service_that_stops_sending(org_a):
    policy = make_policy(
        org_a.project,
        "absence",
        {"source": "logs", "group_by": "service"},
        op="<",
        threshold=1,
        window_seconds=300,
    )
    with time_machine.travel(NOW, tick=False):
        ingest(org_a.ingest_key, [log(1, NOW, service="api"), log(1, NOW, service="web")])
        count_logs(NOW + timedelta(minutes=1))
        assert evaluate(policy, NOW) == []
    later = NOW + timedelta(minutes=7)
    with time_machine.travel(later, tick=False):
        ingest(org_a.ingest_key, [log(1, later, service="api")])
        assert evaluate(policy, later) == [("normal", "firing", 0.0, {"service": "web"})]


def test_absence_of_spans_without_grouping(org_a):
    policy = make_policy(org_a.project, "absence", {"source": "spans"}, op="<", threshold=1)
    with time_machine.travel(NOW, tick=False):
        ingest_spans(org_a.ingest_key, [span(NOW - timedelta(minutes=1), 5)])
        assert evaluate(policy, NOW) == []
    later = NOW + timedelta(minutes=6)
    with time_machine.travel(later, tick=False):
        assert evaluate(policy, later) == [("normal", "firing", 0.0, {})]
