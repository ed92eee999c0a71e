"""Retention: partitions past the longest retention are dropped whole; reads never serve data past
the project's retention, per level class, even before the daily task runs."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from apps.billing.retention import drop_expired_partitions
from apps.billing.tasks import enforce_retention
from apps.logs.storage import ensure_partitions as ensure_log_partitions
from apps.storage.partitions import forget_partitions, partition_name
from apps.traces.storage import ensure_partitions as ensure_span_partitions

DAY = datetime(2026, 11, 1, tzinfo=UTC)


def insert_log(project_id, ts, level, message):
    ensure_log_partitions([ts.date()])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO logs_event (project_id, ts, observed_ts, level, message)"
            " VALUES (%s, %s, %s, %s, %s)",
            [project_id, ts, ts, level, message],
        )


def partition_exists(table, day):
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [partition_name(table, day.date())])
        return cursor.fetchone()[0] is not None


@pytest.fixture(autouse=True)
def _fresh_partition_memory():
    forget_partitions()
    yield
    forget_partitions()


def search(client, org, q=""):
    response = client.get(
        f"/api/v1/projects/{org.project.pk}/logs",
        {"q": q, "start": "-31d", "limit": 1000},
        HTTP_AUTHORIZATION=f"Bearer {org.read_key}",
    )
    assert response.status_code == 200, response.content
    return sorted(row["message"] for row in response.json()["records"])


def test_debug_logs_disappear_after_3_days_while_errors_stay_30(client, org_a, settings):
    settings.RETENTION_DEBUG_DAYS, settings.RETENTION_INFO_DAYS, settings.RETENTION_WARN_DAYS = 3, 14, 30
    now = datetime.now(UTC)
    insert_log(org_a.project.pk, now - timedelta(days=5), 5, "old debug")
    insert_log(org_a.project.pk, now - timedelta(days=5), 17, "old error")
    insert_log(org_a.project.pk, now - timedelta(days=20), 9, "older info")
    insert_log(org_a.project.pk, now - timedelta(days=1), 5, "recent debug")

    assert search(client, org_a) == ["old error", "recent debug"]
    assert search(client, org_a, "debug") == ["recent debug"]


def test_stats_do_not_count_what_retention_hides(client, org_a, settings):
    settings.RETENTION_DEBUG_DAYS = 3
    insert_log(org_a.project.pk, datetime.now(UTC) - timedelta(days=5), 5, "old debug")

    response = client.get(
        f"/api/v1/projects/{org_a.project.pk}/logs/stats",
        {"start": "-7d"},
        HTTP_AUTHORIZATION=f"Bearer {org_a.read_key}",
    )

    assert response.status_code == 200
    assert "old debug" not in response.content.decode()
    assert response.json()["total"] == 0


def test_the_daily_task_drops_whole_expired_partitions_and_keeps_the_next_day(db, org_a, settings):
    settings.RETENTION_WARN_DAYS = 30
    insert_log(org_a.project.pk, DAY + timedelta(hours=12), 17, "day X")
    insert_log(org_a.project.pk, DAY + timedelta(days=1, hours=12), 17, "day X+1")

    with time_machine.travel(DAY + timedelta(days=31, hours=1), tick=False):
        dropped = enforce_retention()

    assert not partition_exists("logs_event", DAY)
    assert partition_exists("logs_event", DAY + timedelta(days=1))
    assert dropped >= 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT message FROM logs_event WHERE project_id = %s", [org_a.project.pk])
        assert [row[0] for row in cursor.fetchall()] == ["day X+1"]


def test_rows_of_a_kept_partition_are_not_served_once_past_retention(client, org_a, settings):
    settings.RETENTION_WARN_DAYS = 30
    insert_log(org_a.project.pk, DAY + timedelta(days=1, minutes=30), 17, "just expired")
    insert_log(org_a.project.pk, DAY + timedelta(days=1, hours=23), 17, "still kept")

    with time_machine.travel(DAY + timedelta(days=31, hours=1), tick=False):
        drop_expired_partitions(datetime.now(UTC))
        served = search(client, org_a)

    assert served == ["still kept"]


def test_running_retention_twice_is_harmless(db, org_a):
    insert_log(org_a.project.pk, DAY, 17, "x")
    with time_machine.travel(DAY + timedelta(days=40), tick=False):
        first = drop_expired_partitions(datetime.now(UTC))
        second = drop_expired_partitions(datetime.now(UTC))

    assert partition_name("logs_event", DAY.date()) in first
    assert second == []


def test_spans_past_retention_are_not_served(client, org_a, settings):
    settings.RETENTION_SPAN_DAYS = 7
    start = datetime.now(UTC) - timedelta(days=8)
    ensure_span_partitions([start.date()])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO traces_span (project_id, trace_id, span_id, name, start_ts, end_ts, duration_ns)"
            " VALUES (%s, %s, %s, 'old', %s, %s, 1000)",
            [org_a.project.pk, "a" * 32, "b" * 16, start, start],
        )

    response = client.get(
        f"/api/v1/projects/{org_a.project.pk}/traces/{'a' * 32}",
        HTTP_AUTHORIZATION=f"Bearer {org_a.read_key}",
    )

    assert response.status_code == 404


def test_metric_charts_never_reach_past_the_retention_of_their_source(client, org_a, settings):
    settings.RETENTION_POINT_DAYS = 2
    old = datetime.now(UTC) - timedelta(days=3)
    ingest = client.post(
        "/api/v1/ingest/metrics",
        json.dumps(
            [
                {"name": "queue.depth", "type": "gauge", "value": 99, "timestamp": old.isoformat()},
                {"name": "queue.depth", "type": "gauge", "value": 7},
            ]
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {org_a.ingest_key}",
    )
    assert ingest.status_code == 200, ingest.content

    response = client.get(
        f"/api/v1/projects/{org_a.project.pk}/metrics/query",
        {"name": "queue.depth", "agg": "max", "step": "30s", "start": "-80h"},  # raw resolution
        HTTP_AUTHORIZATION=f"Bearer {org_a.read_key}",
    )

    assert response.status_code == 200, response.content
    points = [point for series in response.json()["series"] for point in series["points"]]
    values = [value for _, value in points if value is not None]
    assert values == [7.0]


def leaf_exists(day, leaf):
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"{partition_name('logs_event', day.date())}_{leaf}"])
        return cursor.fetchone()[0] is not None


def stored_messages(project_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT message FROM logs_event WHERE project_id = %s ORDER BY message", [project_id])
        return [row[0] for row in cursor.fetchall()]


def test_a_days_debug_and_info_partitions_are_dropped_before_its_warnings(db, org_a, settings):
    settings.RETENTION_DEBUG_DAYS, settings.RETENTION_INFO_DAYS, settings.RETENTION_WARN_DAYS = 3, 14, 30
    for level, message in ((5, "debug"), (9, "info"), (0, "unspecified"), (17, "error")):
        insert_log(org_a.project.pk, DAY + timedelta(hours=12), level, message)

    with time_machine.travel(DAY + timedelta(days=4, hours=1), tick=False):
        dropped = drop_expired_partitions(datetime.now(UTC))
    assert dropped == [f"{partition_name('logs_event', DAY.date())}_debug"]
    assert stored_messages(org_a.project.pk) == ["error", "info", "unspecified"]

    with time_machine.travel(DAY + timedelta(days=15, hours=1), tick=False):
        drop_expired_partitions(datetime.now(UTC))
    assert not leaf_exists(DAY, "info") and not leaf_exists(DAY, "unspecified") and leaf_exists(DAY, "warn")
    assert stored_messages(org_a.project.pk) == ["error"]


def test_a_log_record_past_its_levels_retention_is_rejected_and_the_rest_stored(client, org_a, settings):
    settings.RETENTION_DEBUG_DAYS, settings.RETENTION_INFO_DAYS = 3, 14
    five_days_ago = datetime.now(UTC) - timedelta(days=5)
    ensure_log_partitions([five_days_ago.date()])
    drop_expired_partitions(datetime.now(UTC))  # that day's debug partition is gone
    assert not leaf_exists(five_days_ago, "debug") and leaf_exists(five_days_ago, "info")

    response = client.post(
        "/api/v1/ingest/logs",
        json.dumps(
            [
                {"timestamp": five_days_ago.isoformat(), "level": "debug", "message": "expired debug"},
                {"timestamp": five_days_ago.isoformat(), "level": "info", "message": "kept info"},
            ]
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {org_a.ingest_key}",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["accepted"] == 1 and body["rejected"] == 1
    assert "older than this project's retention" in body["errors"][0]
    assert stored_messages(org_a.project.pk) == ["kept info"]


def test_a_search_by_level_reads_only_that_levels_partitions(db, org_a):
    insert_log(org_a.project.pk, DAY + timedelta(hours=1), 17, "boom")
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT * FROM logs_event WHERE project_id = %s AND ts >= %s AND ts < %s AND level >= 17",
            [org_a.project.pk, DAY, DAY + timedelta(days=1)],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "_warn" in plan
    assert not any(f"_{leaf}" in plan for leaf in ("debug", "info", "unspecified"))
