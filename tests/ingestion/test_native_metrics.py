from datetime import UTC, datetime, timedelta

from tests.ingestion.conftest import count, points_of
from tests.telemetry import post_json

URL = "/api/v1/ingest/metrics"


def test_counters_gauges_and_histograms_are_stored_as_series_and_points(org_a):
    now = datetime.now(UTC).replace(microsecond=0)
    records = [
        {
            "name": "http.requests",
            "type": "counter",
            "value": 3,
            "timestamp": now.isoformat(),
            "labels": {"route": "/pay", "code": 200},
        },
        {
            "name": "queue.depth",
            "type": "gauge",
            "value": 12.5,
            "timestamp": now.isoformat(),
            "unit": "items",
        },
        {
            "name": "latency",
            "type": "histogram",
            "timestamp": now.isoformat(),
            "sum": 1.7,
            "min": 0.01,
            "max": 0.9,
            "buckets": {"bounds": [0.1, 0.5, 1.0], "counts": [3, 4, 1, 0]},
        },
    ]
    response = post_json(URL, records, org_a.ingest_key)
    assert response.status_code == 200, response.content
    counter, latency, depth = points_of(org_a.project.id)
    assert (counter["name"], counter["type"], counter["temporality"], counter["is_monotonic"]) == (
        "http.requests",
        "sum",
        1,
        True,
    )
    assert counter["labels"] == {"route": "/pay", "code": 200}
    assert counter["value"] == 3.0 and counter["ts"] == now
    assert (depth["type"], depth["value"], depth["unit"]) == ("gauge", 12.5, "items")
    assert latency["type"] == "histogram" and latency["value"] is None
    assert (latency["count"], latency["sum"], latency["min"], latency["max"]) == (8, 1.7, 0.01, 0.9)
    assert latency["bounds"] == [0.1, 0.5, 1.0] and latency["bucket_counts"] == [3, 4, 1, 0]


def test_the_same_name_and_labels_reuse_one_series(org_a):
    now = datetime.now(UTC)
    for offset in range(3):
        records = [
            {
                "name": "temp",
                "type": "gauge",
                "value": offset,
                "labels": {"room": "a"},
                "timestamp": (now - timedelta(seconds=offset)).isoformat(),
            },
            {"name": "temp", "type": "gauge", "value": offset, "labels": {"room": "b"}},
        ]
        assert post_json(URL, records, org_a.ingest_key).status_code == 200
    assert count("metrics_series", org_a.project.id) == 2
    assert count("metrics_point", org_a.project.id) == 6


def test_a_histogram_whose_counts_do_not_match_its_bounds_is_rejected(org_a):
    records = [
        {"name": "h", "type": "histogram", "buckets": {"bounds": [1, 2], "counts": [1, 2]}},
        {"name": "h", "type": "histogram", "buckets": {"bounds": [2, 1], "counts": [1, 2, 3]}},
    ]
    response = post_json(URL, records, org_a.ingest_key)
    assert response.status_code == 422
    errors = response.json()["error"]["details"]["errors"]
    assert errors[0] == "record 0: histogram has 2 bucket counts for 2 bounds (need bounds + 1)"
    assert errors[1] == "record 1: histogram bounds must be strictly increasing numbers"
    assert count("metrics_point", org_a.project.id) == 0


def test_invalid_metric_records_name_the_problem(org_a):
    records = [
        {"name": "", "type": "gauge", "value": 1},
        {"name": "x", "type": "summary", "value": 1},
        {"name": "x", "type": "gauge", "value": "1"},
        {"name": "x", "type": "counter", "value": -1},
        {"name": "x", "type": "gauge", "value": 10**400},
    ]
    response = post_json(URL, records[:4], org_a.ingest_key)
    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"] == [
        "record 0: name must be a string of 1 to 255 characters",
        "record 1: type must be counter, gauge or histogram",
        "record 2: value must be a number",
        "record 3: a counter increment must not be negative",
    ]
    assert count("metrics_point", org_a.project.id) == 0
