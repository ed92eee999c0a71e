"""Durability on a real server: 2xx only after COMMIT, 503 + Retry-After and zero rows otherwise,
and under concurrency every acknowledged event is stored."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import psycopg
import pytest

from tests.ingestion.conftest import count
from tests.ingestion.server import Server, database_url

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_TRIGGER = """
CREATE OR REPLACE FUNCTION test_slow_log() RETURNS trigger AS $$
BEGIN
  IF NEW.message = 'stall here' THEN PERFORM pg_sleep(30); END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_slow_log BEFORE INSERT ON logs_event FOR EACH ROW EXECUTE FUNCTION test_slow_log();
"""


def ingest(url: str, key: str, records: list[dict]) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/ingest/logs",
        content=orjson.dumps(records),
        timeout=60,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )


def kill_the_stalled_copy(admin: psycopg.Connection, done: threading.Event) -> None:
    while not done.is_set():
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE wait_event = 'PgSleep' AND query LIKE 'COPY logs_event%%'"
        ).fetchall()
        if killed:
            return
        time.sleep(0.05)


def test_the_database_dying_mid_request_gives_503_and_stores_nothing(vigil_server, org_a):
    records = (
        [{"message": f"row {i}"} for i in range(500)]
        + [{"message": "stall here"}]
        + [{"message": f"row {i}"} for i in range(500, 1000)]
    )
    with psycopg.connect(database_url(), autocommit=True) as admin:
        admin.execute(SLOW_TRIGGER)
        done = threading.Event()
        killer = threading.Thread(target=kill_the_stalled_copy, args=(admin, done))
        try:
            killer.start()
            response = ingest(vigil_server.url, org_a.ingest_key, records)
        finally:
            done.set()
            killer.join()
            admin.execute("DROP TRIGGER test_slow_log ON logs_event; DROP FUNCTION test_slow_log();")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"
    assert count("logs_event", org_a.project.id) == 0
    # The server recovers on the next request with a fresh connection.
    assert ingest(vigil_server.url, org_a.ingest_key, [{"message": "after"}]).status_code == 200
    assert count("logs_event", org_a.project.id) == 1


def test_an_unreachable_database_gives_503_with_retry_after(org_a):
    server = Server({"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere"})
    try:
        response = ingest(server.url, org_a.ingest_key, [{"message": "lost?"}])
        otlp = httpx.post(
            f"{server.url}/v1/logs",
            content=b"",
            timeout=30,
            headers={"authorization": f"Bearer {org_a.ingest_key}", "content-type": "application/x-protobuf"},
        )
    finally:
        server.stop()
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert otlp.status_code == 503 and otlp.headers["Retry-After"] == "5"
    assert count("logs_event", org_a.project.id) == 0


def test_under_concurrency_every_acknowledged_event_is_stored(vigil_server, org_a, org_b):
    def client(worker: int) -> int:
        acknowledged = 0
        key = (org_a if worker % 2 else org_b).ingest_key
        for batch in range(10):
            records = [{"message": f"w{worker} b{batch} r{i}", "attributes": {"i": i}} for i in range(200)]
            if ingest(vigil_server.url, key, records).status_code == 200:
                acknowledged += len(records)
        return acknowledged

    with ThreadPoolExecutor(16) as pool:
        acknowledged = sum(pool.map(client, range(16)))
    assert acknowledged == 16 * 10 * 200
    assert count("logs_event", org_a.project.id) + count("logs_event", org_b.project.id) == acknowledged


def test_retried_and_concurrent_metric_batches_share_series_without_errors(vigil_server, org_a):
    # Eight clients deliver the same batch (a client retrying after a lost answer looks like this):
    # the series upsert must neither fail on the race nor create duplicates.
    body = orjson.dumps(
        [{"name": f"race.{i}", "type": "gauge", "value": i, "labels": {"k": "v"}} for i in range(50)]
    )

    def deliver(_: int) -> int:
        return httpx.post(
            f"{vigil_server.url}/api/v1/ingest/metrics",
            content=body,
            timeout=60,
            headers={"authorization": f"Bearer {org_a.ingest_key}", "content-type": "application/json"},
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(deliver, range(16)))
    assert statuses == [200] * 16
    assert count("metrics_series", org_a.project.id) == 50
    assert count("metrics_point", org_a.project.id) == 16 * 50


def test_an_outage_while_the_key_is_still_cached_is_503_not_500(org_a):
    from django.db import connection

    from apps.ingestion import redaction
    from tests.telemetry import post_json

    assert post_json("/api/v1/ingest/logs", [{"message": "before"}], org_a.ingest_key).status_code == 200
    redaction.forget_settings()  # the next request must read the project's redaction settings again
    connection.close()
    port, connection.settings_dict["PORT"] = connection.settings_dict["PORT"], 1
    try:
        response = post_json("/api/v1/ingest/logs", [{"message": "during"}], org_a.ingest_key)
    finally:
        connection.settings_dict["PORT"] = port
        connection.close()
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert count("logs_event", org_a.project.id) == 1
