"""The ingestion routes as served by uvicorn (apps.ingestion.asgi, in front of Django) answer exactly
as the Django views do, keep what the middleware gave them, and never read more than the cap."""

import gzip
import socket
from urllib.parse import urlparse

import httpx
import orjson
import pytest

from tests.ingestion.conftest import count
from tests.ingestion.messages import log_record, logs_request
from tests.telemetry import post

pytestmark = pytest.mark.django_db(transaction=True)

PROTOBUF = "application/x-protobuf"


def both(server, path, body, key, content_type="application/json", headers=None):
    """The same request through the Django view (test client) and the real server."""
    via_django = post(path, body, key, content_type=content_type, headers=headers)
    sent = {"content-type": content_type, **(headers or {})}
    if key:
        sent["authorization"] = f"Bearer {key}"
    via_server = httpx.post(server.url + path, content=body, headers=sent, timeout=30)
    return via_django, via_server


def same_answer(via_django, via_server):
    assert via_server.status_code == via_django.status_code
    assert via_server.headers["content-type"] == via_django["Content-Type"]
    assert via_server.content == via_django.content
    assert via_server.headers.get("retry-after") == via_django.get("Retry-After")


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status"),
    [
        (
            "/api/v1/ingest/logs",
            b'[{"message": "one"}, {"message": "two", "level": "loud"}]',
            "application/json",
            200,
        ),
        ("/api/v1/ingest/logs", b"[{", "application/json", 400),
        ("/api/v1/ingest/logs", b"[]", "text/plain", 415),
        ("/api/v1/ingest/metrics/", b'[{"name": "m", "type": "gauge"}]', "application/json", 422),
        (
            "/v1/logs",
            logs_request(log_record("hi"), log_record("old", ns=1)).SerializeToString(),
            PROTOBUF,
            200,
        ),
        ("/v1/logs/", b"\xff\x00garbage", PROTOBUF, 400),
        ("/v1/traces", b"{not json", "application/json", 400),
    ],
)
def test_the_fast_path_answers_byte_for_byte_as_the_django_view(
    vigil_server, org_a, path, body, content_type, status
):
    via_django, via_server = both(vigil_server, path, body, org_a.ingest_key, content_type)
    assert via_django.status_code == status
    same_answer(via_django, via_server)


@pytest.mark.parametrize("key", [None, "vgl_ingest_" + "A" * 36, "read"])
def test_refusals_of_keys_are_the_same_on_both_paths(vigil_server, org_a, key):
    key = org_a.read_key if key == "read" else key
    via_django, via_server = both(vigil_server, "/api/v1/ingest/logs", b"[]", key)
    assert via_django.status_code in (401, 403)
    same_answer(via_django, via_server)


def test_accepted_records_are_stored_and_acknowledged_after_commit(vigil_server, org_a):
    body = gzip.compress(orjson.dumps([{"message": f"m{i}"} for i in range(500)]))
    response = httpx.post(
        vigil_server.url + "/api/v1/ingest/logs",
        content=body,
        headers={
            "authorization": f"Bearer {org_a.ingest_key}",
            "content-type": "application/json",
            "content-encoding": "gzip",
        },
    )
    assert response.status_code == 200 and response.json()["accepted"] == 500
    assert count("logs_event", org_a.project.id) == 500


def test_request_id_nosniff_and_405_with_allow(vigil_server, org_a):
    response = httpx.post(
        vigil_server.url + "/api/v1/ingest/logs",
        content=b'[{"message": "x"}]',
        headers={
            "x-api-key": org_a.ingest_key,
            "content-type": "application/json",
            "x-request-id": "trace-me-42",
        },
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-me-42"
    assert response.headers["x-content-type-options"] == "nosniff"
    made_up = httpx.post(vigil_server.url + "/v1/logs", content=b"", headers={"x-request-id": "bad id!"})
    assert made_up.status_code == 401 and len(made_up.headers["x-request-id"]) == 32
    refused = httpx.get(vigil_server.url + "/v1/metrics")
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"


def test_ingest_requests_are_counted_in_the_metrics_endpoint(org_a):
    from tests.ingestion.server import Server

    server = Server(extra_env={"METRICS_TOKEN": "scrape-me"})
    try:

        def served() -> float:
            text = httpx.get(server.url + "/metrics", headers={"authorization": "Bearer scrape-me"}).text
            prefix = 'vigil_http_requests_total{method="POST",route="ingestion:native-logs",status="200"} '
            return sum(
                float(line.removeprefix(prefix)) for line in text.splitlines() if line.startswith(prefix)
            )

        before = served()
        for _ in range(3):
            response = httpx.post(
                server.url + "/api/v1/ingest/logs",
                content=b'[{"message": "x"}]',
                headers={"x-api-key": org_a.ingest_key, "content-type": "application/json"},
            )
            assert response.status_code == 200
        assert served() == before + 3
    finally:
        server.stop()


def raw_exchange(url: str, head: bytes, body_chunks: int, chunk: bytes = b" " * 65536) -> tuple[bytes, int]:
    """Send a request head and then up to `body_chunks` chunks, as long as the server reads;
    returns (what the server answered, chunks it took before answering)."""
    target = urlparse(url)
    with socket.create_connection((target.hostname, target.port), timeout=10) as sock:
        sock.sendall(head)
        sent = 0
        sock.settimeout(0.05)
        answer = b""
        while sent < body_chunks:
            try:
                answer += sock.recv(65536)
                if answer:
                    break
            except TimeoutError:
                pass
            try:
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
        sock.settimeout(10)
        while True:
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            answer += data
        return answer, sent


def test_an_endless_chunked_body_is_refused_at_the_cap_and_the_connection_closed(vigil_server, org_a):
    head = (
        b"POST /api/v1/ingest/logs HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer " + org_a.ingest_key.encode() + b"\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    answer, sent = raw_exchange(vigil_server.url, head, body_chunks=2000)  # 125 MiB if it kept reading
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in answer.lower()
    assert sent < 400  # the cap is 5 MiB (80 chunks); the socket buffers hold a few more
    assert count("logs_event", org_a.project.id) == 0


def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read(vigil_server, org_a):
    head = (
        b"POST /v1/logs HTTP/1.1\r\nHost: x\r\ncontent-type: application/x-protobuf\r\n"
        b"x-api-key: " + org_a.ingest_key.encode() + b"\r\ncontent-length: 999999999\r\n\r\n"
    )
    answer, _ = raw_exchange(vigil_server.url, head, body_chunks=0)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in answer.lower()
