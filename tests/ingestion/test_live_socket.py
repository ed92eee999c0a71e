"""Ingestion announces what it stored to the live WebSocket, on a real server: session-authenticated
project members only, one event per kind of telemetry."""

import asyncio

import pytest

from tests.dashboards.live_client import LiveSocket, cookie_for, drop_telemetry, forget_live_state, live_url
from tests.ingestion.conftest import post_json_to
from tests.ingestion.messages import log_record, logs_request, metrics_request, now_ns, span, traces_request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh(org_a):
    forget_live_state(org_a.project.id)
    yield
    drop_telemetry(org_a.project.id)


def post_otlp(server, path: str, message, key: str) -> None:
    import httpx

    response = httpx.post(
        server.url + path,
        content=message.SerializeToString(),
        headers={"authorization": f"Bearer {key}", "content-type": "application/x-protobuf"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def gauge_request(name: str):
    request, scope = metrics_request()
    metric = scope.metrics.add(name=name)
    metric.gauge.data_points.add(time_unix_nano=now_ns(), as_double=1.5)
    return request


def test_a_member_sees_logs_spans_and_metrics_announced_by_kind(vigil_server, org_a, bob):
    headers = cookie_for(bob, vigil_server)
    start = now_ns()
    failed = span("GET /pay", start, start + 5_000_000, status={"code": 2})
    fine = span("GET /", start, start + 1_000_000, span_id=b"\x02" * 8)

    async def scenario() -> LiveSocket:
        async with LiveSocket(live_url(vigil_server, org_a.project.id), headers) as socket:
            await socket.wait_for(lambda s: s.hello)
            logs = logs_request(log_record("a", severity_number=17), log_record("b"))
            await asyncio.to_thread(post_otlp, vigil_server, "/v1/logs", logs, org_a.ingest_key)
            traces = traces_request(failed, fine)
            await asyncio.to_thread(post_otlp, vigil_server, "/v1/traces", traces, org_a.ingest_key)
            metrics = gauge_request("process.cpu.utilization")
            await asyncio.to_thread(post_otlp, vigil_server, "/v1/metrics", metrics, org_a.ingest_key)
            await socket.wait_for(lambda s: {e["kind"] for e in s.events} == {"logs", "spans", "metrics"})
            return socket

    socket = asyncio.run(scenario())
    by_kind = {event["kind"]: event for event in socket.events}
    assert by_kind["logs"]["count"] == 2 and by_kind["logs"]["levels"] == {"error": 1, "unspecified": 1}
    assert by_kind["logs"]["services"] == ["checkout"]
    spans = by_kind["spans"]
    assert spans["count"] == 2 and spans["errors"] == 1 and spans["services"] == ["checkout"]
    assert spans["trace_ids"] == [failed.trace_id.hex()]
    assert by_kind["metrics"]["count"] == 1 and by_kind["metrics"]["names"] == ["process.cpu.utilization"]
    assert all(isinstance(event["at"], int) for event in socket.events)


def test_a_native_json_batch_is_announced_once_with_its_count(vigil_server, org_a, bob):
    headers = cookie_for(bob, vigil_server)

    async def scenario() -> LiveSocket:
        async with LiveSocket(live_url(vigil_server, org_a.project.id), headers) as socket:
            await socket.wait_for(lambda s: s.hello)
            records = [{"message": "a"}, {"message": "b"}]
            await asyncio.to_thread(
                post_json_to, vigil_server.url, "/api/v1/ingest/logs", records, org_a.ingest_key
            )
            await socket.wait_for(lambda s: s.events)
            await asyncio.sleep(0.5)
            return socket

    socket = asyncio.run(scenario())
    assert [(event["kind"], event["count"]) for event in socket.events] == [("logs", 2)]


def test_another_organizations_member_is_closed_with_4403(vigil_server, org_a, mallory):
    headers = cookie_for(mallory, vigil_server)

    async def close_code() -> int | None:
        async with LiveSocket(live_url(vigil_server, org_a.project.id), headers) as socket:
            return await socket.closed(timeout=5)

    assert asyncio.run(close_code()) == 4403


def test_an_anonymous_visitor_is_not_let_in(vigil_server, org_a):
    async def close_code() -> int | None:
        async with LiveSocket(
            live_url(vigil_server, org_a.project.id), {"Origin": vigil_server.url}
        ) as socket:
            return await socket.closed(timeout=5)

    assert asyncio.run(close_code()) == 4401
