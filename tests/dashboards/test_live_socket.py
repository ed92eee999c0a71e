"""The live WebSocket on a real server (uvicorn + Redis), seen from a scripted page: what arrives,
how often, after a reconnect, through a tail filter, and who is shown the door."""

import asyncio
import threading
import time

import orjson
import pytest
import redis
import websockets
from django.conf import settings

from apps.audit import Actor
from apps.dashboards import live
from apps.logs.query import LEVEL_EXPECTED
from apps.projects.models import Membership
from apps.projects.services import membership_remove, project_delete
from tests.dashboards.live_client import (
    LiveSocket,
    cookie_for,
    drop_telemetry,
    forget_live_state,
    live_url,
    stream_ids,
)
from tests.ingestion.conftest import post_json_to, vigil_server  # noqa: F401  (the fixture below uses it)
from tests.ingestion.server import Server

pytestmark = pytest.mark.django_db(transaction=True)

LOGS = "/api/v1/ingest/logs"


@pytest.fixture
def server(vigil_server):  # noqa: F811  (the uvicorn server of the ingestion tests)
    return vigil_server


@pytest.fixture
def bob_headers(bob, server):
    return cookie_for(bob, server)


@pytest.fixture
def alice_headers(alice, server):
    return cookie_for(alice, server)


@pytest.fixture
def mallory_headers(mallory, server):
    return cookie_for(mallory, server)


@pytest.fixture(autouse=True)
def _fresh_streams(org_a, org_b):
    forget_live_state(org_a.project.pk, org_b.project.pk)
    live.reset()
    yield
    live.drain()
    drop_telemetry(org_a.project.pk, org_b.project.pk)


def send_logs(server, tenant, records) -> None:
    post_json_to(server.url, LOGS, records, tenant.ingest_key)


async def send(server, tenant, records) -> None:
    await asyncio.to_thread(send_logs, server, tenant, records)


def test_each_committed_batch_is_announced_with_its_counts(server, org_a, bob_headers):
    async def scenario() -> LiveSocket:
        async with LiveSocket(live_url(server, org_a.project.pk), bob_headers) as socket:
            await socket.wait_for(lambda s: s.hello)
            await send(
                server,
                org_a,
                [
                    {"message": "boom", "level": "error", "service": "api"},
                    {"message": "ok", "level": "info", "service": "db"},
                    {"message": "fine", "level": 10, "service": "api"},
                ],
            )
            await socket.wait_for(lambda s: s.counted("logs") >= 3)
            await asyncio.to_thread(
                post_json_to,
                server.url,
                "/api/v1/ingest/metrics",
                [{"name": "http.server.request.duration", "type": "gauge", "value": 0.2}],
                org_a.ingest_key,
            )
            await socket.wait_for(lambda s: s.counted("metrics") >= 1)
            return socket

    socket = asyncio.run(scenario())
    assert socket.hello == {"type": "hello", "cursor": "0", "gap": False}
    logs, metrics = socket.events
    assert logs["kind"] == "logs" and logs["count"] == 3
    assert logs["levels"] == {"error": 1, "info": 2}
    assert logs["services"] == ["api", "db"]
    assert logs["ts_min"] <= logs["ts_max"]
    assert "lines" not in logs and "lines_omitted" not in logs  # no tail asked for
    assert metrics["kind"] == "metrics" and metrics["count"] == 1
    assert metrics["names"] == ["http.server.request.duration"]
    assert [logs["id"], metrics["id"]] == ["1", "2"]


def test_the_last_burst_is_delivered_without_a_later_batch(server, org_a, alice_headers):
    async def scenario() -> LiveSocket:
        async with LiveSocket(live_url(server, org_a.project.pk), alice_headers) as socket:
            await socket.wait_for(lambda s: s.hello)
            # All at once, so they land within one throttle interval even on a loaded machine (sent
            # one after another, each waits for its commit): folded, then flushed by the timer.
            await asyncio.gather(
                *(send(server, org_a, [{"message": f"burst {n}"}] * (n + 1)) for n in range(6))
            )
            await socket.wait_for(lambda s: s.counted() >= 21, timeout=5)
            await asyncio.sleep(0.6)
            return socket

    socket = asyncio.run(scenario())
    assert socket.counted() == 21
    assert len(socket.events) < 6  # folded: fewer events than batches


def test_a_resumed_socket_gets_what_it_missed_exactly_once(server, org_a, bob_headers):
    async def scenario() -> tuple[LiveSocket, LiveSocket]:
        headers = bob_headers
        async with LiveSocket(live_url(server, org_a.project.pk), headers) as first:
            await first.wait_for(lambda s: s.hello)
            await send(server, org_a, [{"message": "seen"}])
            await first.wait_for(lambda s: s.counted() == 1)
        last_seen = first.events[-1]["id"]
        for n in range(3):
            await send(server, org_a, [{"message": f"missed {n}"}] * 2)
            await asyncio.sleep(0.3)  # separate events, not one folded event
        url = live_url(server, org_a.project.pk, after=last_seen)
        async with LiveSocket(url, headers) as second:
            await second.wait_for(lambda s: s.hello and s.counted() == 6)
            await send(server, org_a, [{"message": "after the resume"}])
            await second.wait_for(lambda s: s.counted() == 7)
            await asyncio.sleep(0.5)
        return first, second

    first, second = asyncio.run(scenario())
    ids = [int(event["id"]) for event in second.events]
    assert second.hello["gap"] is False
    assert ids == sorted(set(ids)) and min(ids) == int(first.events[-1]["id"]) + 1
    assert second.counted() == 7
    # The replayed events came before the hello, the live one after it.
    types = [frame["type"] for _, frame in second.frames]
    assert types.index("hello") == len(types) - 2


def test_a_resume_beyond_the_buffer_reports_a_gap(server, org_a, bob_headers):
    async def scenario() -> tuple[LiveSocket, LiveSocket]:
        headers = bob_headers
        async with LiveSocket(live_url(server, org_a.project.pk), headers) as first:
            await first.wait_for(lambda s: s.hello)
        for n in range(3):
            await send(server, org_a, [{"message": f"gone {n}"}])
            await asyncio.sleep(0.3)
        deadline = time.monotonic() + 5
        while len(stream_ids(org_a.project.pk)) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        # The buffer keeps the newest events only: here, as if thousands had come since.
        redis.Redis.from_url(settings.REDIS_URL).xtrim(
            live.stream_key(org_a.project.pk), maxlen=1, approximate=False
        )
        url = live_url(server, org_a.project.pk, after=first.hello["cursor"])
        async with LiveSocket(url, headers) as resumed:
            await resumed.wait_for(lambda s: s.hello)
        async with LiveSocket(live_url(server, org_a.project.pk, after="not-a-cursor"), headers) as odd:
            await odd.wait_for(lambda s: s.hello)
        return resumed, odd

    resumed, odd = asyncio.run(scenario())
    assert resumed.hello == {"type": "hello", "cursor": "3", "gap": True}
    assert [event["id"] for event in resumed.events] == ["3"]
    assert odd.hello == {"type": "hello", "cursor": "3", "gap": True}


def test_events_lost_while_connected_are_reported_as_a_gap(server, org_a, bob_headers):
    async def scenario() -> LiveSocket:
        async with LiveSocket(live_url(server, org_a.project.pk), bob_headers) as socket:
            await socket.wait_for(lambda s: s.hello)
            await send(server, org_a, [{"message": "seen"}])
            await socket.wait_for(lambda s: s.counted() == 1)
            # Announcements dropped while Redis was unreachable: the next event skips an id.
            live._publisher.missed.add(org_a.project.pk)
            await asyncio.to_thread(live.announce, org_a.project.pk, "logs", {"count": 2})
            await socket.wait_for(lambda s: s.counted() == 3)
            return socket

    socket = asyncio.run(scenario())
    types = [frame["type"] for _, frame in socket.frames]
    assert types == ["hello", "events", "gap", "events"]
    assert socket.of_type("gap") == [{"type": "gap", "cursor": "2"}]
    assert [event["id"] for event in socket.events] == ["1", "3"]


def test_a_flood_of_batches_becomes_a_few_frames_a_second_and_loses_nothing(server, org_a, bob_headers):
    posted = []

    def flood(worker: int) -> None:
        for n in range(15):
            records = [{"message": f"flood {worker}-{n}"}] * (1 + n % 4)
            send_logs(server, org_a, records)
            posted.append(len(records))

    async def scenario() -> LiveSocket:
        async with LiveSocket(live_url(server, org_a.project.pk), bob_headers) as socket:
            await socket.wait_for(lambda s: s.hello)
            workers = [threading.Thread(target=flood, args=(w,)) for w in range(4)]
            for worker in workers:
                worker.start()
            await asyncio.to_thread(lambda: [worker.join() for worker in workers])
            await socket.wait_for(lambda s: s.counted() >= sum(posted), timeout=10)
            await asyncio.sleep(0.6)
            return socket

    socket = asyncio.run(scenario())
    assert socket.counted() == sum(posted) == 4 * sum(1 + n % 4 for n in range(15))
    arrivals = [at for at, frame in socket.frames if frame["type"] == "events"]
    busiest = max(sum(1 for other in arrivals if at <= other < at + 1.0) for at in arrivals)
    assert busiest <= 5, f"{busiest} frames within one second"
    assert len(socket.events) < 60  # batches were folded into fewer events


def test_the_tail_sends_exactly_the_lines_its_query_matches(server, org_a, bob_headers):
    records = [
        {"message": "checkout failed", "level": "error", "service": "api", "attributes": {"status": 500}},
        {"message": "checkout ok", "level": "info", "service": "api", "attributes": {"status": 200}},
        {"message": "slow query", "level": "warn", "service": "db", "attributes": {"status": "503"}},
        {"message": "Checkout retried", "level": "warn", "service": "api"},
    ]

    async def scenario() -> tuple[LiveSocket, LiveSocket]:
        url = live_url(server, org_a.project.pk)
        async with LiveSocket(url, bob_headers) as tailing, LiveSocket(url, bob_headers) as watching:
            await tailing.wait_for(lambda s: s.hello)
            await watching.wait_for(lambda s: s.hello)
            await tailing.send({"type": "tail", "q": "checkout level>=warn OR attr.status>=500"})
            await tailing.wait_for(lambda s: s.of_type("tail"))
            await send(server, org_a, records)
            await tailing.wait_for(lambda s: s.counted() == 4)
            await watching.wait_for(lambda s: s.counted() == 4)
            await tailing.send({"type": "tail", "q": None})
            await tailing.wait_for(lambda s: len(s.of_type("tail")) == 2)
            await send(server, org_a, records)
            await tailing.wait_for(lambda s: s.counted() == 8)
            return tailing, watching

    tailing, watching = asyncio.run(scenario())
    assert tailing.of_type("tail") == [
        {"type": "tail", "ok": True, "q": "checkout level>=warn OR attr.status>=500"},
        {"type": "tail", "ok": True, "q": None},
    ]
    assert [line["message"] for line in tailing.lines] == [
        "checkout failed",
        "slow query",
        "Checkout retried",
    ]
    assert tailing.events[0]["lines_omitted"] == 0
    assert "lines" not in tailing.events[-1]  # tail stopped
    assert watching.lines == []


def test_lines_travel_only_while_a_socket_of_the_project_tails(server, org_a, bob_headers):
    """Nobody tailing: events count their lines as omitted and Redis holds none. A tail answer
    means the lines of every later batch are on their way."""
    url = live_url(server, org_a.project.pk)

    client = redis.Redis.from_url(settings.REDIS_URL)
    stream = live.stream_key(org_a.project.pk)

    async def scenario() -> tuple[list[dict], LiveSocket]:
        await send(server, org_a, [{"message": "nobody tails this"}] * 3)
        deadline = time.monotonic() + 5
        while not client.xlen(stream) and time.monotonic() < deadline:  # published before the socket
            await asyncio.sleep(0.02)
        async with LiveSocket(url, bob_headers) as tailing:
            await tailing.wait_for(lambda s: s.hello)
            await tailing.send({"type": "tail", "q": ""})
            await tailing.wait_for(lambda s: s.of_type("tail"))
            await send(server, org_a, [{"message": "a tail sees this"}] * 2)
            await tailing.wait_for(lambda s: s.counted() == 2)
        # A tail resuming from before its key existed (as after a long disconnect) is told.
        async with LiveSocket(live_url(server, org_a.project.pk, after="0", tail=""), bob_headers) as resumed:
            await resumed.wait_for(lambda s: s.counted() == 5)
        return [orjson.loads(fields[b"e"]) for _, fields in client.xrange(stream)], tailing, resumed

    stored, tailing, resumed = asyncio.run(scenario())
    untailed, tailed = stored
    assert "lines" not in untailed and untailed["lines_omitted"] == 3
    assert [line["message"] for line in tailed["lines"]] == ["a tail sees this"] * 2
    assert [line["message"] for line in tailing.lines] == ["a tail sees this"] * 2
    assert tailing.events[0]["lines_omitted"] == 0
    assert [event["lines_omitted"] for event in resumed.events] == [3, 0]
    assert [line["message"] for line in resumed.lines] == ["a tail sees this"] * 2


def test_a_tail_is_not_told_of_lines_published_before_it_began():
    """Events in flight when a tail starts carry no lines; the page's reload shows their rows, so
    the tail must not call them omitted. Later ones without lines are (the key had expired)."""
    from apps.dashboards.consumers import ProjectLiveConsumer, tail_predicate

    socket = ProjectLiveConsumer()
    socket.tail, socket.tail_since = tail_predicate(""), 7
    before = {"id": "7", "kind": "logs", "count": 3, "lines_omitted": 3}
    after = {"id": "8", "kind": "logs", "count": 2, "lines_omitted": 2}
    assert socket._for_this_socket(before, 1000)[0] == {
        "id": "7",
        "kind": "logs",
        "count": 3,
        "lines": [],
        "lines_omitted": 0,
    }
    assert socket._for_this_socket(after, 1000)[0]["lines_omitted"] == 2


def test_tail_lines_have_the_shape_of_search_results(server, org_a, bob_client, bob_headers):
    record = {
        "message": "shape",
        "level": "warn",
        "service": "api",
        "trace_id": "5b8efff798038103d269b633813fc60c",
        "span_id": "eee19b7ec3c1b174",
        "attributes": {"rows": 3, "sql": {"table": "orders"}, "ratio": 0.1},
    }

    async def scenario() -> LiveSocket:
        url = live_url(server, org_a.project.pk, tail="")
        async with LiveSocket(url, bob_headers) as socket:
            await socket.wait_for(lambda s: s.of_type("tail"))
            await send(server, org_a, [record])
            await socket.wait_for(lambda s: s.lines)
            return socket

    socket = asyncio.run(scenario())
    searched = bob_client.get(f"/api/v1/projects/{org_a.project.pk}/logs").json()["records"]
    assert socket.lines == searched


def test_a_bad_tail_query_is_answered_with_its_position_and_keeps_the_old_filter(server, org_a, bob_headers):
    async def scenario() -> LiveSocket:
        async with LiveSocket(live_url(server, org_a.project.pk), bob_headers) as socket:
            await socket.wait_for(lambda s: s.hello)
            await socket.send({"type": "tail", "q": "service:api"})
            await socket.send({"type": "tail", "q": "level:nope"})
            await socket.send({"type": "tail", "q": "(oops"})
            await socket.send({"type": "tail", "q": "bad \ud800 text"})
            await socket.wait_for(lambda s: len(s.of_type("tail")) == 4)
            await send(server, org_a, [{"message": "kept", "service": "api"}, {"message": "not api"}])
            await socket.wait_for(lambda s: s.counted() == 2)
            return socket

    socket = asyncio.run(scenario())
    ok, level, paren, surrogate = socket.of_type("tail")
    assert ok["ok"] is True
    assert level["ok"] is False and level["position"] == 6 and level["expected"] == LEVEL_EXPECTED
    assert "position 6" in level["message"]
    assert paren["ok"] is False and paren["position"] == 5 and paren["expected"] == "')'"
    assert surrogate["ok"] is False and surrogate["position"] == 4
    assert [line["message"] for line in socket.lines] == ["kept"]


def test_markup_in_telemetry_travels_as_plain_json_strings(server, org_a, bob_headers):
    payload = "<img src=x onerror=alert(1)>"
    key = '"><script>alert(1)</script>'

    async def scenario() -> LiveSocket:
        async with LiveSocket(live_url(server, org_a.project.pk, tail=""), bob_headers) as socket:
            await socket.wait_for(lambda s: s.hello)
            await send(
                server, org_a, [{"message": payload, "service": "<b>svc</b>", "attributes": {key: key}}]
            )
            await socket.wait_for(lambda s: s.lines)
            return socket

    socket = asyncio.run(scenario())
    (line,) = socket.lines
    assert line["message"] == payload and line["service"] == "<b>svc</b>"
    assert line["attributes"] == {key: key}
    assert orjson.dumps(payload).decode() in "".join(socket.raw)
    assert socket.events[0]["services"] == ["<b>svc</b>"]


def test_a_removed_member_is_disconnected_with_4403(server, org_a, alice, bob, bob_headers):
    async def scenario() -> tuple[int | None, float]:
        async with LiveSocket(live_url(server, org_a.project.pk), bob_headers) as socket:
            await socket.wait_for(lambda s: s.hello)
            owner = await asyncio.to_thread(Membership.objects.get, user=alice)
            membership = await asyncio.to_thread(Membership.objects.get, user=bob)
            started = time.monotonic()
            await asyncio.to_thread(membership_remove, owner, membership, by=Actor(user=alice))
            code = await socket.closed(timeout=5)
            return code, time.monotonic() - started

    code, _ = asyncio.run(scenario())
    assert code == 4403


def test_deleting_the_project_disconnects_its_pages_with_4403(server, org_a, alice_headers):
    async def scenario() -> int | None:
        async with LiveSocket(live_url(server, org_a.project.pk), alice_headers) as socket:
            await socket.wait_for(lambda s: s.hello)
            await asyncio.to_thread(project_delete, org_a.project, by=Actor(user=org_a.owner))
            return await socket.closed(timeout=5)

    assert asyncio.run(scenario()) == 4403


def test_another_organizations_project_and_a_missing_one_look_the_same(server, org_a, mallory_headers):
    async def close_code(project_id: int) -> int | None:
        async with LiveSocket(live_url(server, project_id), mallory_headers) as socket:
            return await socket.closed(timeout=5)

    assert asyncio.run(close_code(org_a.project.pk)) == 4403
    assert asyncio.run(close_code(10**9)) == 4403


async def handshake(url: str, headers: dict[str, str]) -> int:
    """The HTTP status of the WebSocket handshake: 101 when the socket opened and said hello."""
    try:
        async with LiveSocket(url, headers) as socket:
            await socket.wait_for(lambda s: s.hello)
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another port of the same host: was let in
        "http://localhost:3000",  # a dev server on localhost: was let in
        "https://127.0.0.1:{port}",  # same host and port, other scheme
        "http://127.0.0.1",  # same host, default port
        "http://evil.test:{port}",
        "null",  # sandboxed frames and file:// pages
        "",
    ],
)
def test_a_members_cookie_sent_from_another_origin_is_refused(server, org_a, bob_headers, origin):
    headers = {**bob_headers, "Origin": origin.format(port=server.port)}

    assert asyncio.run(handshake(live_url(server, org_a.project.pk), headers)) == 403


def test_a_handshake_without_an_origin_is_refused(server, org_a, bob_headers):
    headers = {name: value for name, value in bob_headers.items() if name != "Origin"}

    assert asyncio.run(handshake(live_url(server, org_a.project.pk), headers)) == 403


def test_a_page_of_the_site_itself_is_let_in(server, org_a, bob_headers):
    assert bob_headers["Origin"] == f"http://127.0.0.1:{server.port}"

    assert asyncio.run(handshake(live_url(server, org_a.project.pk), bob_headers)) == 101


def test_an_origin_listed_in_csrf_trusted_origins_is_let_in(org_a, bob):
    server = Server(extra_env={"CSRF_TRUSTED_ORIGINS": "https://vigil.example.test,https://*.corp.test"})
    try:
        url = live_url(server, org_a.project.pk)
        headers = cookie_for(bob, server)
        for origin, status in [
            ("https://vigil.example.test", 101),
            ("https://eu.corp.test", 101),
            ("http://vigil.example.test", 403),  # the scheme is part of the origin
            ("https://vigil.example.test:8443", 403),
            ("https://evilcorp.test", 403),
        ]:
            assert asyncio.run(handshake(url, {**headers, "Origin": origin})) == status, origin
    finally:
        server.stop()
