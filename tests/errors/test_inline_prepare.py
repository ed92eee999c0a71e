"""Requests that need no I/O before their commit are prepared on the event loop's own thread
(ingest.prepare_inline, skipping the thread pool); every other request goes to the pool untouched.
Each call runs inside a running event loop, as uvicorn's, where Django refuses any query: an
inline preparation that touched PostgreSQL would fall back to the pool and fail these tests."""

from __future__ import annotations

import asyncio
import gzip
import uuid
from dataclasses import replace

import orjson
import pytest

from apps.errors import ingest
from apps.errors.ingest import Prepared, SentryRequest, commit, prepare, prepare_inline
from apps.errors.models import Event
from apps.ingestion.transport import Reply
from tests.errors.conftest import exception_event, frame

pytestmark = pytest.mark.django_db(transaction=True)


def request(dsn_key, *items: tuple[str, dict], key: str | None = None) -> SentryRequest:
    body = b"{}\n" + b"".join(
        orjson.dumps({"type": kind}) + b"\n" + orjson.dumps(p) + b"\n" for kind, p in items
    )
    query = f"sentry_key={key or dsn_key.public_key}"
    return SentryRequest("POST", dsn_key.project_id, "envelope", query, "", "", str(len(body)), body)


def python_event() -> dict:
    frames = [frame("shop.cart", "checkout", "    cart.pay()")]
    return exception_event("ValueError", "bad cart", frames, event_id=uuid.uuid4().hex)


def on_loop(sentry_request: SentryRequest) -> Reply | Prepared | None:
    async def run() -> Reply | Prepared | None:
        return prepare_inline(sentry_request)

    return asyncio.run(run())


@pytest.fixture
def cached_key(dsn_key):
    ingest._keys.clear()
    assert isinstance(prepare(request(dsn_key, ("event", python_event()))), Prepared)  # (caches the key)
    return dsn_key


def test_an_event_with_its_key_cached_is_prepared_inline_and_stored(cached_key):
    event = python_event()

    prepared = on_loop(request(cached_key, ("event", event)))

    assert isinstance(prepared, Prepared)
    [reply] = commit([prepared])
    assert reply.status == 200 and orjson.loads(reply.body) == {"id": event["event_id"]}
    assert Event.objects.get(event_id=event["event_id"]).data == event


def test_a_key_not_in_the_cache_goes_to_the_pool(dsn_key):
    ingest._keys.clear()

    assert on_loop(request(dsn_key, ("event", python_event()))) is None
    assert isinstance(prepare(request(dsn_key, ("event", python_event()))), Prepared)


def test_a_refused_key_known_to_the_cache_is_answered_inline(cached_key):
    bad = "0" * 32
    prepare(request(cached_key, ("event", python_event()), key=bad))  # the pool's lookup caches "no such key"

    reply = on_loop(request(cached_key, ("event", python_event()), key=bad))

    assert isinstance(reply, Reply) and reply.status == 403


def test_other_items_and_js_frames_to_symbolicate_go_to_the_pool(cached_key):
    transaction = {"type": "transaction", "transaction": "/cart", "start_timestamp": 1, "timestamp": 2}
    minified = {
        "abs_path": "https://shop.test/static/app.min.js",
        "filename": "app.min.js",
        "function": "t",
        "lineno": 1,
        "colno": 120,
    }
    js = exception_event("TypeError", "x is undefined", [minified], platform="javascript", release="1.0")

    assert on_loop(request(cached_key, ("event", python_event()), ("transaction", transaction))) is None
    assert on_loop(request(cached_key, ("event", js))) is None
    assert not Event.objects.exists()  # nothing stored on the way


def test_a_compressed_body_goes_to_the_pool_however_small(cached_key):
    """A gzip bomb of 64 KiB inflates to the 50 MiB cap: done on the event loop, it would stall
    every request of the process for as long. The pool handles it as before."""
    event = python_event()
    plain = request(cached_key, ("event", event))
    body = gzip.compress(plain.body)
    compressed = replace(plain, content_encoding="gzip", content_length=str(len(body)), body=body)

    assert on_loop(compressed) is None
    prepared = prepare(compressed)
    assert isinstance(prepared, Prepared)
    [reply] = commit([prepared])
    assert reply.status == 200 and Event.objects.get(event_id=event["event_id"]).data == event
