"""Exact metering: every record that reaches ingestion is counted once, as accepted or dropped
with its reason; the flush to PostgreSQL never double-counts; accepted equals stored rows."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from apps.billing import quota, usage
from apps.billing.models import MeterGap, UsageFlush
from apps.ingestion import services
from tests.billing.conftest import redis_client, usage_of
from tests.ingestion.conftest import count
from tests.telemetry import post_json

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"


def old(days):
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def test_accepted_and_dropped_records_are_counted_once_each_by_reason(org_a, settings):
    settings.RETENTION_DEBUG_DAYS = 3
    records = [
        {"message": "kept 1"},
        {"message": "kept 2", "level": "error"},
        {"message": "too old for a debug line", "level": "debug", "timestamp": old(5)},
        {"message": 42, "level": {"not": "a level"}, "timestamp": "yesterday-ish"},
    ]
    response = post_json("/api/v1/ingest/logs", records, org_a.ingest_key)
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 2
    assert usage_of(org_a.organization) == {
        ("logs", "accepted"): 2,
        ("logs", "retention"): 1,
        ("logs", "invalid"): 1,
    }
    assert count("logs_event", org_a.project.id) == 2


def test_a_request_with_no_valid_record_and_one_with_too_many_are_counted_as_dropped(org_a, monkeypatch):
    assert post_json("/api/v1/ingest/logs", [{"timestamp": "nope"}] * 3, org_a.ingest_key).status_code == 422
    monkeypatch.setattr(services, "MAX_NATIVE_RECORDS", 4)
    assert post_json("/api/v1/ingest/logs", [{"message": "x"}] * 5, org_a.ingest_key).status_code == 413
    assert usage_of(org_a.organization) == {("logs", "invalid"): 3, ("logs", "too_large"): 5}


def test_rate_limited_records_are_counted_as_dropped_by_the_rate_limit(org_a, settings):
    settings.INGEST_RATE_PER_SECOND, settings.INGEST_RATE_BURST = 1, 5
    assert post_json("/api/v1/ingest/logs", [{"message": "x"}] * 5, org_a.ingest_key).status_code == 200
    assert post_json("/api/v1/ingest/logs", [{"message": "y"}] * 4, org_a.ingest_key).status_code == 429
    assert usage_of(org_a.organization) == {("logs", "accepted"): 5, ("logs", "rate_limit"): 4}


def test_every_signal_is_metered_and_accepted_equals_stored_rows(org_a):
    post_json("/api/v1/ingest/logs", [{"message": f"m{i}"} for i in range(7)], org_a.ingest_key)
    metrics = [{"name": "cpu", "type": "gauge", "value": i, "labels": {"host": "a"}} for i in range(3)]
    post_json("/api/v1/ingest/metrics", metrics, org_a.ingest_key)
    counted = usage_of(org_a.organization)
    assert counted[("logs", "accepted")] == count("logs_event", org_a.project.id) == 7
    assert counted[("metrics", "accepted")] == count("metrics_point", org_a.project.id) == 3


def test_a_flush_run_twice_or_after_a_crash_applies_each_batch_of_counters_exactly_once(org_a):
    post_json("/api/v1/ingest/logs", [{"message": "x"}] * 6, org_a.ingest_key)
    client = redis_client()
    pending = client.hgetall(quota.PENDING_KEY)
    assert usage_of(org_a.organization) == {("logs", "accepted"): 6}
    # A crash after the commit and before the DEL leaves the flush key behind: the next run must
    # recognise the batch by its id and only delete it.
    flush_id = UsageFlush.objects.order_by("-applied_at").first().flush_id
    client.hset(usage.FLUSH_PREFIX + flush_id, mapping=pending)
    assert usage_of(org_a.organization) == {("logs", "accepted"): 6}
    assert not client.exists(usage.FLUSH_PREFIX + flush_id)
    # A crash after the RENAME and before the commit: the next run applies the batch.
    post_json("/api/v1/ingest/logs", [{"message": "y"}] * 2, org_a.ingest_key)
    client.rename(quota.PENDING_KEY, usage.FLUSH_PREFIX + "crashed-run")
    assert usage_of(org_a.organization) == {("logs", "accepted"): 8}
    assert usage_of(org_a.organization) == {("logs", "accepted"): 8}


def test_with_redis_down_accepted_records_are_counted_from_the_write_path_and_the_gap_is_reported(
    org_a, settings
):
    settings.REDIS_URL = DEAD_REDIS
    response = post_json("/api/v1/ingest/logs", [{"message": "x"}] * 4, org_a.ingest_key)
    assert response.status_code == 200
    assert response["X-Vigil-Quota-Limit"] == "1000000"
    assert count("logs_event", org_a.project.id) == 4
    gap = MeterGap.objects.get(organization_id=org_a.organization.pk)
    assert gap.requests == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(count) FROM billing_usageday WHERE organization_id = %s AND outcome = 'accepted'",
            [org_a.organization.pk],
        )
        assert cursor.fetchone()[0] == 4


def test_a_failed_write_is_answered_503_and_counts_nothing_as_accepted(org_a):
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
            " LANGUAGE plpgsql; CREATE TRIGGER test_refuse BEFORE INSERT ON logs_event"
            " FOR EACH ROW EXECUTE FUNCTION test_refuse()"
        )
    response = post_json("/api/v1/ingest/logs", [{"message": "x"}] * 3, org_a.ingest_key)
    assert response.status_code == 503
    assert usage_of(org_a.organization).get(("logs", "accepted"), 0) == 0
    assert (
        int(
            redis_client().get(quota.counter_key(org_a.organization.pk, datetime.now(UTC).strftime("%Y%m")))
            or 0
        )
        == 0
    )
