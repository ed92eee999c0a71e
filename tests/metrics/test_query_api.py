"""GET /api/v1/projects/{id}/metrics/query: round trips through the real ingest endpoints."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from apps.metrics.rollups import rollup_run
from tests.metrics.conftest import iso, otlp_counter, points, query
from tests.telemetry import ingest_metrics, post_otlp_metrics

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
E0 = int(T0.timestamp())
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def histogram_of(values: list[float], seconds: float, route: str) -> dict:
    counts = [0] * (len(BOUNDS) + 1)
    for value in values:
        counts[next((i for i, bound in enumerate(BOUNDS) if value <= bound), len(BOUNDS))] += 1
    return {
        "name": "http.duration",
        "type": "histogram",
        "timestamp": iso(at(seconds)),
        "labels": {"route": route},
        "sum": sum(values),
        "min": min(values),
        "max": max(values),
        "buckets": {"bounds": BOUNDS, "counts": counts},
    }


def bucket_index(value: float) -> int:
    return next((i for i, bound in enumerate(BOUNDS) if value <= bound), len(BOUNDS))


def true_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(q * len(ordered)) - 1)]


@pytest.fixture
def traffic(org_a):
    """Ten minutes of a latency histogram on two routes, a counter and a gauge; rolled up at T0+12m."""
    rng = random.Random(7)
    observed: dict[str, list[float]] = {"/pay": [], "/cart": []}
    records = []
    for second in range(0, 600, 15):
        for route, scale in (("/pay", 0.3), ("/cart", 0.05)):
            values = [rng.lognormvariate(0, 1) * scale for _ in range(20)]
            observed[route] += values
            records.append(histogram_of(values, second, route))
            records.append(
                {
                    "name": "requests",
                    "type": "counter",
                    "value": 20,
                    "timestamp": iso(at(second)),
                    "labels": {"route": route},
                }
            )
        records.append(
            {
                "name": "queue.depth",
                "type": "gauge",
                "value": second % 60,
                "timestamp": iso(at(second)),
                "labels": {"host": "a"},
            }
        )
        records.append(
            {
                "name": "queue.depth",
                "type": "gauge",
                "value": 100,
                "timestamp": iso(at(second)),
                "labels": {"host": "b"},
            }
        )
    with time_machine.travel(at(720), tick=False):
        ingest_metrics(org_a.ingest_key, records)
        rollup_run(now=at(-60))  # watermark before the data
        rollup_run()
    return observed


def ask(client, org, **params):
    with time_machine.travel(at(720), tick=False):
        return query(client, org.project.id, org.read_key, **params)


def test_counts_are_exact_from_the_minute_rollups(client, org_a, traffic):
    response = ask(client, org_a, name="requests", agg="sum", step="1m", start=iso(T0), end=iso(at(600)))
    assert response.json()["resolution"] == "1m"
    assert points(response) == {E0 + 60 * m: 4 * 2 * 20.0 for m in range(10)}
    count = ask(client, org_a, name="http.duration", agg="count", step="5m", start=iso(T0), end=iso(at(600)))
    assert points(count) == {E0: 20 * 20 * 2.0, E0 + 300: 20 * 20 * 2.0}


def test_rate_is_the_increase_per_second(client, org_a, traffic):
    response = ask(
        client,
        org_a,
        name="requests",
        agg="rate",
        step="60",
        start=iso(T0),
        end=iso(at(600)),
        group_by="route",
    )
    series = {s["labels"]["route"]: dict(s["points"]) for s in response.json()["series"]}
    assert series["/pay"] == {E0 + 60 * m: 80 / 60 for m in range(10)}
    assert set(series) == {"/pay", "/cart"}


@pytest.mark.parametrize("agg", ["p50", "p90", "p95", "p99"])
def test_percentiles_from_rollups_are_within_one_bucket_of_the_truth(client, org_a, traffic, agg):
    q = int(agg[1:]) / 100
    response = ask(
        client,
        org_a,
        name="http.duration",
        agg=agg,
        step="10m",
        start=iso(T0),
        end=iso(at(600)),
        group_by="route",
    )
    for series in response.json()["series"]:
        ((_, estimate),) = series["points"]
        truth = true_quantile(traffic[series["labels"]["route"]], q)
        assert abs(bucket_index(estimate) - bucket_index(truth)) <= 1, (agg, estimate, truth)


def test_percentiles_of_all_routes_merge_buckets_not_percentiles(client, org_a, traffic):
    response = ask(client, org_a, name="http.duration", agg="p99", step="1h", start=iso(T0), end=iso(at(600)))
    assert response.json()["resolution"] == "1h"
    ((_, estimate),) = response.json()["series"][0]["points"]
    truth = true_quantile(traffic["/pay"] + traffic["/cart"], 0.99)
    assert abs(bucket_index(estimate) - bucket_index(truth)) <= 1


def test_gauges_average_min_max_and_sum_across_hosts(client, org_a, traffic):
    common = {"name": "queue.depth", "step": "1m", "start": iso(T0), "end": iso(at(120))}
    assert points(ask(client, org_a, agg="min", **common)) == {E0: 0.0, E0 + 60: 0.0}
    assert points(ask(client, org_a, agg="max", **common)) == {E0: 100.0, E0 + 60: 100.0}
    assert points(ask(client, org_a, agg="avg", **common))[E0] == (0 + 15 + 30 + 45 + 400) / 8
    # sum of gauges: host a's average (22.5) plus host b's (100), not the sum of 8 samples.
    assert points(ask(client, org_a, agg="sum", **common))[E0] == 122.5


def test_label_filters_and_group_by_select_and_split_series(client, org_a, traffic):
    response = ask(
        client,
        org_a,
        name="queue.depth",
        agg="avg",
        step="10m",
        start=iso(T0),
        end=iso(at(600)),
        **{"label.host": "b"},
    )
    assert points(response) == {E0: 100.0}
    both = ask(
        client,
        org_a,
        name="queue.depth",
        agg="count",
        step="10m",
        start=iso(T0),
        end=iso(at(600)),
        group_by="host",
    )
    assert [(s["labels"], s["points"]) for s in both.json()["series"]] == [
        ({"host": "a"}, [[E0, 40]]),
        ({"host": "b"}, [[E0, 40]]),
    ]


def test_short_steps_read_raw_points(client, org_a, traffic):
    response = ask(client, org_a, name="requests", agg="sum", step="15s", start=iso(T0), end=iso(at(60)))
    assert response.json()["resolution"] == "raw"
    assert points(response) == {E0 + s: 40.0 for s in (0, 15, 30, 45)}


def test_minutes_not_yet_rolled_up_are_read_from_raw_points(client, org_a):
    def hits(seconds: range) -> list[dict]:
        return [{"name": "hits", "type": "counter", "value": 1, "timestamp": iso(at(s))} for s in seconds]

    with time_machine.travel(at(65), tick=False):
        ingest_metrics(org_a.ingest_key, hits(range(0, 60, 10)))
        assert rollup_run().end == at(60)
    with time_machine.travel(at(150), tick=False):
        ingest_metrics(org_a.ingest_key, hits(range(60, 150, 10)))
        response = query(
            client, org_a.project.id, org_a.read_key, name="hits", agg="sum", step="1m", start=iso(T0)
        )
    assert points(response) == {E0: 6.0, E0 + 60: 6.0, E0 + 120: 3.0}


def test_a_cumulative_otlp_counter_round_trips_with_its_reset(client, org_a):
    start = at(-7200)
    with time_machine.travel(at(180), tick=False):
        rollup_run(now=at(-60))
        post_otlp_metrics(
            org_a.ingest_key,
            otlp_counter(
                "jobs", [(at(0), start, 100), (at(20), start, 130), (at(40), at(35), 5), (at(70), at(35), 25)]
            ),
        )
        rollup_run()
        response = query(
            client, org_a.project.id, org_a.read_key, name="jobs", agg="sum", step="1m", start=iso(T0)
        )
    assert points(response) == {E0: 35.0, E0 + 60: 20.0}
    assert response.json()["kind"] == "counter"


def test_a_thirty_day_chart_is_served_from_rollups_at_an_hour_step(client, org_a, traffic):
    response = ask(client, org_a, name="requests", agg="sum", start="-30d")
    body = response.json()
    assert (body["resolution"], body["step"]) == ("1h", 3 * 3600)
    assert sum(value for _, value in body["series"][0]["points"]) == 40 * 2 * 20.0


def test_complete_hours_come_from_hour_rollups_and_the_open_hour_from_minutes(client, org_a):
    def hits(value: int, seconds: range) -> list[dict]:
        return [{"name": "hits", "type": "counter", "value": value, "timestamp": iso(at(s))} for s in seconds]

    with time_machine.travel(at(3780), tick=False):
        rollup_run(now=at(-60))
        ingest_metrics(org_a.ingest_key, hits(1, range(0, 600, 10)) + hits(2, range(3600, 3660, 10)))
        assert rollup_run().end == at(-60) + timedelta(hours=1)  # one hour per run after an outage
        assert rollup_run().end == at(3780)  # caught up
        with connection.cursor() as cursor:  # proves the first hour is read from its 1h row
            cursor.execute("DELETE FROM metrics_rollup_1m WHERE bucket < %s", [at(3600)])
        response = query(client, org_a.project.id, org_a.read_key, name="hits", agg="sum", step="1h")
    assert points(response) == {E0: 60.0, E0 + 3600: 12.0}


def test_an_unknown_metric_is_an_empty_chart(client, org_a):
    response = query(client, org_a.project.id, org_a.read_key, name="nothing")
    assert response.status_code == 200
    assert response.json()["series"] == []
