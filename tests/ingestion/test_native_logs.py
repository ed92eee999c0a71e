from datetime import UTC, datetime, timedelta

from tests.ingestion.conftest import logs_of
from tests.telemetry import post, post_json

URL = "/api/v1/ingest/logs"


def test_a_json_array_of_logs_is_stored_with_every_field(org_a):
    now = datetime.now(UTC).replace(microsecond=123456)
    records = [
        {
            "timestamp": now.isoformat(),
            "level": "error",
            "message": "payment failed",
            "service": "checkout",
            "trace_id": "0AF7651916CD43DD8448EB211C80319C",
            "span_id": "b7ad6b7169203331",
            "attributes": {"order": {"id": 42, "items": ["a", "b"]}, "retry": True},
        },
        {"timestamp": (now - timedelta(seconds=1)).isoformat(), "level": "info", "message": "started"},
    ]
    response = post_json(URL, records, org_a.ingest_key)
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 2, "rejected": 0, "errors": [], "warnings": []}
    stored = logs_of(org_a.project.id)
    assert [row["message"] for row in stored] == ["started", "payment failed"]
    failed = stored[1]
    assert failed["ts"] == now
    assert failed["level"] == 17
    assert failed["service"] == "checkout"
    assert failed["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert failed["span_id"] == "b7ad6b7169203331"
    assert failed["attributes"] == {"order": {"id": 42, "items": ["a", "b"]}, "retry": True}


def test_ndjson_logs_are_accepted(org_a):
    seconds = datetime.now(UTC).timestamp() - 10
    body = f'{{"message": "one", "level": 9}}\n\n{{"message": "two", "timestamp": {seconds}}}\n'
    response = post(URL, body, org_a.ingest_key, content_type="application/x-ndjson")
    assert response.status_code == 200, response.content
    assert sorted(row["message"] for row in logs_of(org_a.project.id)) == ["one", "two"]


def test_numeric_timestamps_are_read_by_magnitude(org_a):
    seconds = int(datetime.now(UTC).timestamp()) - 60
    records = [
        {"message": unit, "timestamp": seconds * factor}
        for unit, factor in (("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9))
    ]
    assert post_json(URL, records, org_a.ingest_key).status_code == 200
    assert {row["ts"] for row in logs_of(org_a.project.id)} == {datetime.fromtimestamp(seconds, UTC)}


def test_gzip_bodies_are_inflated(org_a):
    response = post(URL, '[{"message": "zipped"}]', org_a.ingest_key, gzipped=True)
    assert response.status_code == 200, response.content
    assert logs_of(org_a.project.id)[0]["message"] == "zipped"


def test_invalid_records_are_reported_while_valid_ones_are_stored(org_a):
    records = [
        {"message": "ok"},
        {"message": "bad", "level": "loud"},
        "not an object",
        {"message": "bad id", "trace_id": "xyz"},
    ]
    response = post_json(URL, records, org_a.ingest_key)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1 and body["rejected"] == 3
    assert "record 1: unknown level 'loud'" in body["errors"]
    assert [row["message"] for row in logs_of(org_a.project.id)] == ["ok"]


def test_a_request_with_only_invalid_records_is_422_and_stores_nothing(org_a):
    response = post_json(URL, [{"message": "x", "timestamp": "yesterday"}], org_a.ingest_key)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_records"
    assert response.json()["error"]["details"]["errors"] == ["record 0: timestamp is not RFC 3339"]
    assert logs_of(org_a.project.id) == []


def test_timestamps_outside_the_window_are_rejected_by_the_documented_rule(org_a):
    now = datetime.now(UTC)
    records = [
        {"message": "future", "timestamp": (now + timedelta(days=2)).isoformat()},
        {"message": "ancient", "timestamp": (now - timedelta(days=31)).isoformat()},
        # An error: its retention (30 days) is longer than the window; an older info line would be
        # refused as past its level's retention (tests/billing/test_retention.py).
        {"message": "old but fine", "level": "error", "timestamp": (now - timedelta(days=29)).isoformat()},
    ]
    body = post_json(URL, records, org_a.ingest_key).json()
    assert body["rejected"] == 2
    assert [row["message"] for row in logs_of(org_a.project.id)] == ["old but fine"]


def test_a_missing_timestamp_means_the_time_of_receipt(org_a):
    before = datetime.now(UTC)
    post_json(URL, [{"message": "now"}], org_a.ingest_key)
    assert before - timedelta(seconds=1) <= logs_of(org_a.project.id)[0]["ts"] <= datetime.now(UTC)


def test_logs_land_in_the_project_of_the_key(org_a, org_b):
    post_json(URL, [{"message": "mine"}], org_b.ingest_key)
    assert logs_of(org_a.project.id) == []
    assert [row["message"] for row in logs_of(org_b.project.id)] == ["mine"]
