"""DSN keys are cached per process (apps.errors.ingest, with the API keys' KeyCache), and a
revoked key is still refused on the very next request: revoking bumps the Redis epoch that every
process compares before trusting its cache."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest

from apps.errors.dsn import dsn_key_revoke
from apps.errors.ingest import SentryRequest, handle
from apps.errors.models import SdkDiscard


def body() -> bytes:
    event_id = uuid.uuid4().hex
    return orjson.dumps({"event_id": event_id}) + b'\n{"type":"event"}\n' + orjson.dumps({"message": "x"})


def post(dsn_key) -> int:
    data = body()
    query = f"sentry_key={dsn_key.public_key}"
    request = SentryRequest("POST", dsn_key.project_id, "envelope", query, "", "", str(len(data)), data)
    return handle(request).status


@pytest.mark.django_db
def test_a_revoked_key_is_refused_on_the_next_request_though_it_was_cached(dsn_key):
    assert [post(dsn_key), post(dsn_key)] == [200, 200]  # the second from the cache

    dsn_key_revoke(dsn_key)

    assert post(dsn_key) == 403


@pytest.mark.django_db(transaction=True)
def test_a_key_revoked_in_another_process_is_refused_by_the_server_on_its_next_request(dsn_key, vigil_server):
    url = f"{vigil_server.url}/api/{dsn_key.project_id}/envelope/?sentry_key={dsn_key.public_key}"
    assert [httpx.post(url, content=body(), timeout=30).status_code for _ in range(3)] == [200] * 3

    dsn_key_revoke(dsn_key)  # this test's process: the server only learns it from the epoch

    refused = httpx.post(url, content=body(), timeout=30)
    assert refused.status_code == 403
    assert "revoked" in refused.json()["error"]["message"]


@pytest.mark.django_db(transaction=True)
def test_items_stored_before_the_events_commit_are_refused_too_once_the_key_is_revoked(dsn_key, vigil_server):
    url = f"{vigil_server.url}/api/{dsn_key.project_id}/envelope/?sentry_key={dsn_key.public_key}"
    report = {"discarded_events": [{"reason": "queue_overflow", "category": "error", "quantity": 3}]}
    envelope = b'{}\n{"type":"client_report"}\n' + orjson.dumps(report)
    assert [httpx.post(url, content=body(), timeout=30).status_code for _ in range(3)] == [200] * 3

    dsn_key_revoke(dsn_key)

    assert httpx.post(url, content=envelope, timeout=30).status_code == 403
    assert not SdkDiscard.objects.filter(project_id=dsn_key.project_id).exists()
