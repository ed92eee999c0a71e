"""Events of concurrent Sentry requests are committed together (apps.errors.commit): one
transaction for a batch of requests, each answered only after that COMMIT; a failed batch
answers 503 to every request in it and meters none of them; an event_id sent twice at once is
stored once. The writer runs on its own thread and connection, as in a web process; the requests'
coroutines on an event loop thread of the test's own."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future

import orjson
import psycopg
import pytest
from django.db import connection

from apps.errors.commit import GroupCommit
from apps.errors.dsn import dsn_key_create, dsn_key_revoke
from apps.errors.ingest import Prepared, SentryRequest, handle, prepare
from apps.ingestion.transport import Reply
from tests.billing.conftest import fresh_meter, put_on_plan, usage_of  # noqa: F401
from tests.errors.conftest import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_meter")]


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop on a thread, as uvicorn's: the test thread stays free for its own queries."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


def prepared_request(dsn_key, event_id: str) -> SentryRequest:
    body = (
        orjson.dumps({"event_id": event_id})
        + b'\n{"type":"event"}\n'
        + orjson.dumps({"event_id": event_id, "message": "queue full", "level": "error"})
    )
    query = f"sentry_key={dsn_key.public_key}"
    return SentryRequest("POST", dsn_key.project_id, "envelope", query, "", "", str(len(body)), body)


def prepared(dsn_key, event_id: str) -> Prepared:
    result = prepare(prepared_request(dsn_key, event_id))
    assert isinstance(result, Prepared)
    return result


def submit(writer: GroupCommit, loop: asyncio.AbstractEventLoop, request: Prepared) -> Future[Reply]:
    return asyncio.run_coroutine_threadsafe(writer.submit(request), loop)


class KeyHolder:
    """Another session holding an uncommitted dedup key: the writer's batch that contains this
    event_id waits on it, in the middle of its transaction (what a slow disk looks like)."""

    def __init__(self, project_id: int, event_id: str) -> None:
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self.connection = psycopg.connect(**params)
        self.connection.execute(
            "INSERT INTO errors_eventid (project_id, event_id, received) VALUES (%s, %s, now())",
            [project_id, uuid.UUID(event_id)],
        )

    def release(self) -> None:
        self.connection.rollback()
        self.connection.close()


def writer_waits_on_a_key() -> int | None:
    """The backend pid of a writer blocked on a held dedup key, if one is."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE 'INSERT INTO errors_eventid%%' AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def committed_in(event_ids: list[str]) -> list[int]:
    """The transactions (xmin) that wrote these events' rows, one entry per row."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xmin::text::bigint FROM errors_event WHERE event_id = ANY(%s::uuid[])", [event_ids]
        )
        return [xmin for (xmin,) in cursor.fetchall()]


def blocked_writer(dsn_key, loop) -> tuple[GroupCommit, KeyHolder, Future[Reply]]:
    """A writer whose current batch (one request) waits on a held key: what it queues meanwhile
    is its next batch."""
    # Not this process's grouper: a grouping thread would outlive the test (and its database).
    writer = GroupCommit(stored=lambda project_id: None)
    held = uuid.uuid4().hex
    holder = KeyHolder(dsn_key.project_id, held)
    first = submit(writer, loop, prepared(dsn_key, held))
    wait_until(writer_waits_on_a_key)
    return writer, holder, first


def test_concurrent_requests_share_one_commit_and_are_answered_after_it(dsn_key, loop, org_a):
    writer, holder, first = blocked_writer(dsn_key, loop)
    event_ids = [uuid.uuid4().hex for _ in range(20)]
    answers = [submit(writer, loop, prepared(dsn_key, event_id)) for event_id in event_ids]
    wait_until(lambda: len(writer.queue) == len(event_ids))

    assert not first.done() and not any(answer.done() for answer in answers)
    assert committed_in(event_ids) == []

    holder.release()
    replies = [answer.result(timeout=30) for answer in [first, *answers]]

    assert [reply.status for reply in replies] == [200] * 21
    assert [orjson.loads(reply.body)["id"] for reply in replies[1:]] == event_ids
    assert len(set(committed_in(event_ids))) == 1  # all 20 in one transaction
    assert len(committed_in(event_ids)) == 20
    assert usage_of(org_a.organization) == {("error", "accepted"): 21}


def test_the_same_event_id_in_one_batch_is_stored_once_and_both_answered(dsn_key, loop, org_a):
    writer, holder, first = blocked_writer(dsn_key, loop)
    event_id = uuid.uuid4().hex
    answers = [submit(writer, loop, prepared(dsn_key, event_id)) for _ in range(2)]
    wait_until(lambda: len(writer.queue) == 2)

    holder.release()

    assert [answer.result(timeout=30).status for answer in [first, *answers]] == [200, 200, 200]
    assert len(committed_in([event_id])) == 1
    assert usage_of(org_a.organization) == {("error", "accepted"): 2}  # the copy is not billed


def test_storage_lost_mid_batch_fails_every_request_of_it_and_a_retry_stores_them_once(dsn_key, loop, org_a):
    writer, holder, first = blocked_writer(dsn_key, loop)
    # The next batch: 10 requests, one of them waiting on a second held key.
    second_holder_id = uuid.uuid4().hex
    second_holder = KeyHolder(dsn_key.project_id, second_holder_id)
    event_ids = [second_holder_id] + [uuid.uuid4().hex for _ in range(9)]
    answers = [submit(writer, loop, prepared(dsn_key, event_id)) for event_id in event_ids]
    wait_until(lambda: len(writer.queue) == len(event_ids))
    holder.release()
    assert first.result(timeout=30).status == 200
    writer_backend = wait_until(writer_waits_on_a_key)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [writer_backend])  # the database goes away
    replies = [answer.result(timeout=30) for answer in answers]
    second_holder.release()

    assert [reply.status for reply in replies] == [503] * 10
    assert all(reply.headers["Retry-After"] for reply in replies)
    assert committed_in(event_ids) == []
    assert usage_of(org_a.organization) == {("error", "accepted"): 1}  # only the first request

    retried = [submit(writer, loop, prepared(dsn_key, event_id)) for event_id in event_ids * 2]
    assert [answer.result(timeout=30).status for answer in retried] == [200] * 20
    assert len(committed_in(event_ids)) == 10
    assert usage_of(org_a.organization) == {("error", "accepted"): 11}


def test_a_request_refused_for_a_revoked_key_in_a_failed_batch_is_taken_off_the_meter_once(
    dsn_key, loop, org_a
):
    revoked_key = dsn_key_create(org_a.project, "second", created_by=org_a.owner)
    writer, holder, first = blocked_writer(dsn_key, loop)
    second_holder_id = uuid.uuid4().hex
    second_holder = KeyHolder(dsn_key.project_id, second_holder_id)
    requests = [
        prepared(revoked_key, uuid.uuid4().hex),
        prepared(dsn_key, second_holder_id),
        prepared(dsn_key, uuid.uuid4().hex),
    ]
    answers = [submit(writer, loop, request) for request in requests]
    wait_until(lambda: len(writer.queue) == 3)
    dsn_key_revoke(revoked_key)  # after its request was prepared, before its batch is written
    holder.release()
    assert first.result(timeout=30).status == 200
    writer_backend = wait_until(writer_waits_on_a_key)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [writer_backend])
    replies = [answer.result(timeout=30) for answer in answers]
    second_holder.release()

    assert [reply.status for reply in replies] == [403, 503, 503]
    assert usage_of(org_a.organization) == {("error", "accepted"): 1}  # the first request only


def test_concurrent_envelopes_past_a_small_quota_store_and_meter_exactly_the_quota(dsn_key, loop, org_a):
    put_on_plan(org_a.organization, events_per_month=6, overage="block")
    writer, holder, first = blocked_writer(dsn_key, loop)  # its one event is the quota's first
    event_ids = [uuid.uuid4().hex for _ in range(12)]
    answers = [submit(writer, loop, prepared(dsn_key, event_id)) for event_id in event_ids]
    wait_until(lambda: len(writer.queue) == len(event_ids))  # one batch, admitted in one call

    holder.release()
    replies = [answer.result(timeout=30) for answer in [first, *answers]]

    assert [reply.status for reply in replies] == [200] * 6 + [429] * 7
    assert len(committed_in(event_ids)) == 5
    assert len(set(committed_in(event_ids[:5]))) == 1
    assert usage_of(org_a.organization) == {("error", "accepted"): 6, ("error", "quota"): 7}
    alone = handle(prepared_request(dsn_key, uuid.uuid4().hex))  # refused by the same quota, alone
    for refused in replies[6:]:
        assert (refused.status, refused.headers, refused.body) == (alone.status, alone.headers, alone.body)
    assert alone.headers["X-Sentry-Rate-Limits"].split(":")[1:] == ["error", "key"]
    assert 1 <= int(alone.headers["Retry-After"]) <= 3600
    assert orjson.loads(alone.body)["error"]["code"] == "rate_limited"


def test_a_rate_limited_key_in_a_batch_is_refused_like_alone_and_counted_as_rate_limited(
    dsn_key, loop, org_a, settings
):
    settings.INGEST_RATE_PER_SECOND = 0.001  # no refill within the test
    settings.INGEST_RATE_BURST = 3
    writer, holder, first = blocked_writer(dsn_key, loop)  # its event takes the first token
    answers = [submit(writer, loop, prepared(dsn_key, uuid.uuid4().hex)) for _ in range(4)]
    wait_until(lambda: len(writer.queue) == 4)

    holder.release()
    replies = [answer.result(timeout=30) for answer in [first, *answers]]

    assert [reply.status for reply in replies] == [200, 200, 200, 429, 429]
    assert all(r.headers["X-Sentry-Rate-Limits"].endswith(":error:key") for r in replies[3:])
    assert orjson.loads(replies[3].body)["error"]["message"] == "Rate limit exceeded for this DSN."
    assert usage_of(org_a.organization) == {("error", "accepted"): 3, ("error", "rate_limit"): 2}
