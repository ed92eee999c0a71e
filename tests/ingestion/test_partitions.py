import threading
from datetime import UTC, datetime, timedelta

from django.db import connection, connections

from apps.ingestion.tasks import create_partitions_ahead
from apps.storage import partitions
from apps.traces import storage as traces
from tests.ingestion.conftest import fetch, logs_of
from tests.telemetry import post_json


def partition_exists(table: str, day) -> bool:
    return bool(
        fetch("SELECT to_regclass(%s) IS NOT NULL AS ok", [partitions.partition_name(table, day)])[0]["ok"]
    )


def test_the_beat_task_creates_partitions_days_ahead_for_every_table(db):
    create_partitions_ahead()
    today = datetime.now(UTC).date()
    for table in ("logs_event", "metrics_point", "traces_span"):
        for offset in range(-1, 4):
            assert partition_exists(table, today + timedelta(days=offset))


def test_a_record_for_a_day_without_a_partition_creates_it_on_demand(org_a):
    old = datetime.now(UTC) - timedelta(days=20)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {partitions.partition_name('logs_event', old.date())}")
    response = post_json(
        "/api/v1/ingest/logs",
        [{"message": "late", "level": "error", "timestamp": old.isoformat()}],  # within warn's 30 days
        org_a.ingest_key,
    )
    assert response.status_code == 200
    assert partition_exists("logs_event", old.date())
    assert logs_of(org_a.project.id)[0]["message"] == "late"


def test_a_partition_dropped_behind_the_process_back_is_recreated(org_a):
    day = datetime.now(UTC) - timedelta(days=10)
    post_json("/api/v1/ingest/logs", [{"message": "first", "timestamp": day.isoformat()}], org_a.ingest_key)
    with connection.cursor() as cursor:  # what retention does; this process still believes in it
        cursor.execute(f"DROP TABLE {partitions.partition_name('logs_event', day.date())}")
    response = post_json(
        "/api/v1/ingest/logs", [{"message": "second", "timestamp": day.isoformat()}], org_a.ingest_key
    )
    assert response.status_code == 200
    assert [row["message"] for row in logs_of(org_a.project.id)] == ["second"]


def test_concurrent_on_demand_creation_of_one_partition_is_race_free(transactional_db):
    day = (datetime.now(UTC) - timedelta(days=25)).date()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {partitions.partition_name('traces_span', day)}")
    errors: list[Exception] = []
    barrier = threading.Barrier(6)

    def create() -> None:
        try:
            barrier.wait()
            partitions.forget_partitions()
            traces.ensure_partitions([day])
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert partition_exists("traces_span", day)
