import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
import redis
from django.conf import settings

from apps.dashboards import live
from apps.ingestion import ratelimit
from tests.ingestion.conftest import count
from tests.ingestion.messages import log_record, logs_request
from tests.telemetry import post, post_json

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def tight_rate_limit(settings):
    settings.INGEST_RATE_PER_SECOND = 1
    settings.INGEST_RATE_BURST = 5


@pytest.fixture
def redis_down(settings):
    settings.REDIS_URL = DEAD_REDIS
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [DEAD_REDIS]}}
    }
    ratelimit.shared_redis.reset()
    yield
    ratelimit.shared_redis.reset()


def test_the_rate_limit_refuses_with_429_retry_after_and_a_json_reason(org_a, tight_rate_limit):
    ratelimit.shared_redis.reset()
    assert post_json("/api/v1/ingest/logs", [{"message": "x"}] * 5, org_a.ingest_key).status_code == 200
    response = post_json("/api/v1/ingest/logs", [{"message": "y"}] * 3, org_a.ingest_key)
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "rate_limited"
    assert count("logs_event", org_a.project.id) == 5


def test_the_rate_limit_answers_otlp_clients_with_a_retryable_429(org_a, tight_rate_limit):
    ratelimit.shared_redis.reset()
    body = logs_request(*[log_record(str(i)) for i in range(6)]).SerializeToString()
    post(
        "/v1/logs",
        logs_request(*[log_record("a")] * 5).SerializeToString(),
        org_a.ingest_key,
        "application/x-protobuf",
    )
    response = post("/v1/logs", body, org_a.ingest_key, "application/x-protobuf")
    assert response.status_code == 429 and response["Retry-After"]


def test_threads_that_meet_the_limiter_while_its_client_is_made_wait_for_it(monkeypatch):
    # A worker's first requests arrive on several threads at once. One makes the Redis client; the
    # others used to see the client before its script existed and answered 500 (TypeError).
    ratelimit.shared_redis.reset()
    register_script = redis.Redis.register_script

    def slowly(client, script):
        time.sleep(0.2)
        return register_script(client, script)

    monkeypatch.setattr(redis.Redis, "register_script", slowly)
    with ThreadPoolExecutor(8) as pool:
        decisions = list(pool.map(lambda key_id: ratelimit.consume(key_id, 1), range(8)))
    assert all(decision.allowed for decision in decisions)
    ratelimit.shared_redis.reset()


def test_each_key_has_its_own_bucket(org_a, org_b, tight_rate_limit):
    ratelimit.shared_redis.reset()
    assert post_json("/api/v1/ingest/logs", [{"message": "x"}] * 5, org_a.ingest_key).status_code == 200
    assert post_json("/api/v1/ingest/logs", [{"message": "x"}] * 5, org_b.ingest_key).status_code == 200


def test_with_redis_down_ingestion_still_stores_and_skips_the_announcement(
    org_a, tight_rate_limit, redis_down
):
    started = time.monotonic()
    for _ in range(3):
        response = post_json("/api/v1/ingest/logs", [{"message": "x"}] * 5, org_a.ingest_key)
        assert response.status_code == 200
    assert count("logs_event", org_a.project.id) == 15
    assert time.monotonic() - started < 10


def test_a_commit_is_announced_and_a_burst_within_the_throttle_interval_is_folded(org_a, monkeypatch):
    monkeypatch.setattr(live, "THROTTLE_SECONDS", 1.0)
    stream = live.stream_key(org_a.project.id)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(stream, live.counter_key(org_a.project.id))
    body = logs_request(log_record("a"), log_record("b")).SerializeToString()

    post("/v1/logs", body, org_a.ingest_key, "application/x-protobuf")
    assert live.drain(5)
    # Within the throttle interval the next batches are folded into one event, which the
    # interval's end publishes without waiting for yet another batch.
    post_json("/api/v1/ingest/logs", [{"message": "c"}], org_a.ingest_key)
    post_json("/api/v1/ingest/logs", [{"message": "d"}] * 3, org_a.ingest_key)
    assert live.drain(5)

    entries = client.xrange(stream)
    assert [entry_id for entry_id, _ in entries] == [b"1-0", b"2-0"]
    assert [orjson.loads(fields[b"e"])["count"] for _, fields in entries] == [2, 4]
