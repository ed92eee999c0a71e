import asyncio
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from apps.billing import quota
from apps.dashboards import live
from apps.ingestion import ratelimit
from tests.ingestion.conftest import count, post, post_json
from tests.ingestion.messages import log_record, logs_request

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


def test_the_permissive_default_quota_allows_everything(org_a):
    assert quota.check(org_a.project, 10**9) == quota.QuotaDecision(allowed=True)


def test_a_commit_is_announced_to_the_project_group_and_throttled(org_a, monkeypatch):
    monkeypatch.setattr(live, "THROTTLE_SECONDS", 0.3)
    layer = get_channel_layer()
    body = logs_request(log_record("a"), log_record("b")).SerializeToString()

    async def scenario() -> list[dict]:
        # One event loop for the listener: channels_redis keeps its receive state per loop.
        channel = await layer.new_channel()
        await layer.group_add(live.group_name(org_a.project.id), channel)
        await sync_to_async(post)("/v1/logs", body, org_a.ingest_key, "application/x-protobuf")
        first = await layer.receive(channel)
        # Within the throttle window nothing is sent; the count is carried into the next message.
        await sync_to_async(post_json)("/api/v1/ingest/logs", [{"message": "c"}], org_a.ingest_key)
        await asyncio.sleep(0.35)
        assert await sync_to_async(live.announce)(org_a.project.id, "logs", {"count": 4}) is True
        return [first, await layer.receive(channel)]

    first, second = async_to_sync(scenario)()
    assert first == {"type": "live.event", "kind": "logs", "payload": {"count": 2}}
    assert second["payload"] == {"count": 5}
