from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client

from apps.ops import health
from apps.ops.tasks import beat_heartbeat


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def unreachable_database(closed_port: int, django_db_blocker) -> Iterator[None]:
    """Point the default connection at a closed port, on a fresh connection, and put it back afterwards."""
    original = dict(connection.settings_dict)
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port))
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(original)


@pytest.fixture
def unreachable_redis(settings, closed_port: int) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    settings.CELERY_BROKER_URL = settings.REDIS_URL


def test_liveness_answers_ok_without_touching_the_database(client):
    # No `db` fixture: pytest-django would fail the test if the view tried to query.
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_liveness_is_public_and_does_not_redirect_to_login(client):
    response = client.get("/health", follow=False)

    assert response.status_code == 200
    assert "Location" not in response


@pytest.mark.django_db
def test_ready_is_200_with_every_check_when_everything_is_up(client, settings):
    settings.OTLP_GRPC_PORT = 0  # turned off: see the otlp_grpc tests below
    beat_heartbeat.apply()

    response = client.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    checks = body["checks"]
    assert {name: check["ok"] for name, check in checks.items()} == {
        "database": True,
        "redis": True,
        "migrations": True,
        "beat": True,
        "queue": True,
        "otlp_grpc": True,
        "alerts": True,
    }
    assert checks["otlp_grpc"] == {"ok": True, "enabled": False}
    assert 0 <= checks["beat"]["age_seconds"] < health.BEAT_STALE_AFTER_SECONDS
    assert isinstance(checks["queue"]["depth"], int)


@pytest.mark.django_db
def test_ready_reports_a_missing_heartbeat_without_becoming_unready(client):
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["checks"]["beat"] == {"ok": False, "age_seconds": None}


@pytest.mark.django_db
def test_ready_reports_a_stale_heartbeat_without_becoming_unready(client, settings):
    two_minutes_ago = time.time() - 120
    health.redis_client(settings.REDIS_URL).set(health.BEAT_HEARTBEAT_KEY, repr(two_minutes_ago))

    response = client.get("/health/ready")

    assert response.status_code == 200
    beat = response.json()["checks"]["beat"]
    assert beat["ok"] is False
    assert beat["age_seconds"] >= 120


@pytest.mark.django_db
def test_ready_reports_the_depth_of_the_default_celery_queue(client, settings):
    broker = health.redis_client(settings.CELERY_BROKER_URL)
    broker.delete(health.CELERY_DEFAULT_QUEUE)
    broker.rpush(health.CELERY_DEFAULT_QUEUE, "a", "b", "c")
    try:
        response = client.get("/health/ready")
    finally:
        broker.delete(health.CELERY_DEFAULT_QUEUE)

    assert response.status_code == 200
    assert response.json()["checks"]["queue"] == {"ok": True, "depth": 3}


@pytest.mark.usefixtures("unreachable_database")
def test_ready_is_503_json_when_the_database_is_unreachable(client):
    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"]
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["error"]["code"] == "unavailable"
    assert body["error"]["details"] == {"failed": ["database", "migrations", "alerts"]}
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert body["checks"]["migrations"] == {"ok": False, "error": "database unavailable"}
    assert body["checks"]["redis"]["ok"] is True


@pytest.mark.django_db
@pytest.mark.usefixtures("unreachable_redis")
def test_ready_is_503_json_when_redis_is_unreachable(client):
    started = time.monotonic()
    response = client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["error"]["details"] == {"failed": ["redis"]}
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    # Not asked again: each would cost another socket timeout on a black-holed Redis.
    assert body["checks"]["beat"] == {"ok": False, "error": "redis unavailable"}
    assert body["checks"]["queue"] == {"ok": False, "error": "redis unavailable"}
    assert body["checks"]["database"]["ok"] is True
    assert time.monotonic() - started < 5, "a refused connection must not wait for long timeouts"


@pytest.mark.django_db
def test_ready_is_503_while_a_migration_is_unapplied(client):
    # Rolled back with the test's transaction.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE id = (SELECT max(id) FROM django_migrations)")

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == {"ok": False, "error": "unapplied migrations"}


@pytest.mark.django_db
def test_ready_remembers_that_migrations_were_applied(client, django_assert_max_num_queries):
    assert client.get("/health/ready").status_code == 200

    # Only SELECT 1 (and the alert evaluator's lag) is left once the positive answer is cached.
    with django_assert_max_num_queries(2):
        response = client.get("/health/ready")

    assert response.json()["checks"]["migrations"] == {"ok": True}


def test_health_endpoints_refuse_writes_with_json(client):
    response = client.post("/health/ready")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.django_db(transaction=True)
def test_ready_reports_the_otlp_grpc_receiver_that_answers(client, settings):
    from tests.ingestion.server import GrpcServer

    receiver = GrpcServer()
    settings.OTLP_GRPC_CHECK_ADDRESS = receiver.address
    try:
        check = client.get("/health/ready").json()["checks"]["otlp_grpc"]
    finally:
        receiver.stop()

    assert check["ok"] is True and check["latency_ms"] >= 0


@pytest.mark.django_db
def test_ready_reports_a_down_otlp_grpc_receiver_without_becoming_unready(client, settings, closed_port):
    settings.OTLP_GRPC_CHECK_ADDRESS = f"127.0.0.1:{closed_port}"

    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["checks"]["otlp_grpc"] == {"ok": False, "error": "UNAVAILABLE"}
