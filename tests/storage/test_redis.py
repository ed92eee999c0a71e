"""The process-wide Redis client of apps.storage.redis: its breaker (open after a failure, tried
again after the cool-down), its scripts (loaded again when Redis forgot them), and the one token
bucket shared by ingestion's limiter and billing's admission script."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from apps.billing import quota
from apps.ingestion import ratelimit, transport
from apps.storage import redis as shared_redis


@pytest.fixture(autouse=True)
def _fresh_clients():
    shared_redis.reset()
    yield
    shared_redis.reset()


@pytest.fixture
def hung_redis(settings) -> Iterator[socket.socket]:
    """REDIS_URL pointing at a server that accepts connections and never answers (a hung Redis):
    every call costs a timeout. Connections are left in the listen queue, to be counted."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    server.setblocking(False)
    settings.REDIS_URL = f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    yield server
    server.close()


def connections_to(server: socket.socket) -> int:
    """How many connections were made to `server` since last asked."""
    made = 0
    while True:
        try:
            connection, _ = server.accept()
        except BlockingIOError:
            return made
        connection.close()
        made += 1


def new_bucket() -> tuple[str, str]:
    """(a bucket name for billing's key_id, the bucket's Redis key for the limiter)."""
    name = f"test-{uuid.uuid4().hex}"
    return name, f"vigil:ingest:bucket:{name}"


def test_a_hung_redis_costs_one_timeout_then_requests_skip_it_during_the_cool_down(hung_redis):
    assert ratelimit.consume(1, 1).allowed  # fails open after the timeout
    assert connections_to(hung_redis) >= 1

    assert ratelimit.consume(1, 1).allowed
    assert transport.consume_bucket("vigil:ingest:bucket:other", 1.0, 5.0, 1) == (True, 0)
    assert shared_redis.script(ratelimit.TOKEN_BUCKET) is None
    assert shared_redis.available_client() is None
    assert connections_to(hung_redis) == 0


def test_after_the_cool_down_a_hung_redis_is_tried_again(hung_redis, monkeypatch):
    monkeypatch.setattr(shared_redis, "BREAKER_SECONDS", 0.0)
    assert ratelimit.consume(1, 1).allowed
    assert connections_to(hung_redis) >= 1

    assert ratelimit.consume(1, 1).allowed
    assert connections_to(hung_redis) >= 1


def test_the_breaker_lets_requests_through_while_open_and_closes_on_the_next_success(monkeypatch):
    _, bucket = new_bucket()
    assert transport.consume_bucket(bucket, 0.001, 1.0, 1) == (True, 1)
    assert transport.consume_bucket(bucket, 0.001, 1.0, 1)[0] is False

    shared_redis.trip(redis.ConnectionError("refused"), "test")
    assert transport.consume_bucket(bucket, 0.001, 1.0, 1) == (True, 0)  # failing open

    monkeypatch.setattr(shared_redis, "BREAKER_SECONDS", 0.0)
    shared_redis.trip(redis.ConnectionError("refused"), "test")
    assert transport.consume_bucket(bucket, 0.001, 1.0, 1)[0] is False  # Redis again: still empty
    assert shared_redis.available_client() is not None


def test_a_breaker_is_per_url_so_a_new_url_is_a_fresh_try(settings):
    shared_redis.trip(redis.ConnectionError("refused"), "test")
    assert shared_redis.available_client() is None
    url = settings.REDIS_URL
    settings.REDIS_URL = url.rsplit("/", 1)[0] + "/5"
    assert shared_redis.available_client() is not None
    assert shared_redis.shared_client() is shared_redis.shared_client()


def test_a_script_redis_forgot_is_loaded_again_and_keeps_its_state():
    _, bucket = new_bucket()
    assert transport.consume_bucket(bucket, 0.001, 1.0, 1) == (True, 1)
    redis.Redis.from_url(settings.REDIS_URL).script_flush()

    assert transport.consume_bucket(bucket, 0.001, 1.0, 1)[0] is False
    assert shared_redis.available_client() is not None  # NOSCRIPT did not trip the breaker


@pytest.mark.django_db
def test_the_limiter_and_billings_admission_share_one_bucket_per_key(org_a, settings):
    settings.INGEST_RATE_PER_SECOND = 0.001
    settings.INGEST_RATE_BURST = 5
    organization_id, project_id = org_a.organization.pk, org_a.project.pk

    name, bucket = new_bucket()
    assert quota.admit(organization_id, project_id, "logs", 4, key_id=name).keep == 4
    assert transport.consume_bucket(bucket, 0.001, 5.0, 1) == (True, 1)  # the fifth token
    refused = quota.admit(organization_id, project_id, "logs", 1, key_id=name)
    assert refused.keep == 0 and refused.rate_limited_for > 0

    name, bucket = new_bucket()
    assert transport.consume_bucket(bucket, 0.001, 5.0, 5) == (True, 1)
    assert quota.admit(organization_id, project_id, "logs", 1, key_id=name).rate_limited_for > 0
