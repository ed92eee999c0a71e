"""Slow or lying clients: a body that stops coming is answered 408 and the connection closed (instead
of being held open forever), and JSON declared in a charset other than UTF-8 is refused with 415."""

import socket
from urllib.parse import urlparse

import httpx
import orjson
import pytest

from tests.ingestion.conftest import count, logs_of
from tests.ingestion.messages import log_record, logs_request
from tests.telemetry import post

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def impatient_server(django_db_setup, django_db_blocker):
    from tests.ingestion.server import Server

    server = Server(extra_env={"INGEST_BODY_TIMEOUT_SECONDS": "1"})
    yield server
    server.stop()


def exchange(url: str, request: bytes) -> bytes:
    """Send `request` as is, then read until the server closes (or 20 s of silence)."""
    target = urlparse(url)
    with socket.create_connection((target.hostname, target.port), timeout=20) as sock:
        sock.sendall(request)
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                return answer
            if not data:
                return answer
            answer += data


def head(path: str, key: str, length: int, content_type: str = "application/json") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\ncontent-type: {content_type}\r\n"
        f"authorization: Bearer {key}\r\ncontent-length: {length}\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/api/v1/ingest/logs", "application/json"), ("/v1/logs", "application/x-protobuf")],
)
def test_a_body_shorter_than_its_content_length_is_answered_408_and_closed(
    impatient_server, org_a, path, content_type
):
    body = b'[{"message": "never finished"}]'
    if content_type != "application/json":
        body = logs_request(log_record("never finished")).SerializeToString()
    answer = exchange(
        impatient_server.url, head(path, org_a.ingest_key, len(body) + 1000, content_type) + body
    )
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"connection: close" in answer.lower()
    reply = orjson.loads(answer.partition(b"\r\n\r\n")[2])
    assert reply["error"]["code"] == "request_timeout"
    assert reply["error"]["details"] == {"timeout_seconds": 1.0}
    assert count("logs_event", org_a.project.id) == 0


def test_a_body_that_keeps_coming_is_not_timed_out_as_a_whole(impatient_server, org_a):
    """The timeout is for a stall, not for the whole body: chunks arriving within it are read on."""
    body = orjson.dumps([{"message": f"slow {i}"} for i in range(3)])
    target = urlparse(impatient_server.url)
    with socket.create_connection((target.hostname, target.port), timeout=20) as sock:
        sock.sendall(head("/api/v1/ingest/logs", org_a.ingest_key, len(body)))
        for start in range(0, len(body), 10):
            sock.sendall(body[start : start + 10])
            # Each piece waits for the server to have read the one before: no clock involved.
            sock.settimeout(0.3)
            try:
                early = sock.recv(1)
            except TimeoutError:
                early = b""
            sock.settimeout(20)
            assert early == b"" or start + 10 >= len(body)
            if early:
                break
        answer = early + sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert count("logs_event", org_a.project.id) == 3


@pytest.mark.parametrize("charset", ["utf-16", "UTF-16LE", "latin-1", "windows-1252"])
@pytest.mark.parametrize("path", ["/api/v1/ingest/logs", "/v1/logs"])
def test_json_in_another_charset_is_415_on_both_transports(vigil_server, org_a, path, charset):
    if path == "/v1/logs":
        payload = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "é"}}]}]}]}
    else:
        payload = [{"message": "é"}]
    body = orjson.dumps(payload).decode().encode(charset)
    content_type = f"application/json; charset={charset}"
    # (Django's test client encodes the data in the declared charset itself.)
    via_django = post(path, orjson.dumps(payload), org_a.ingest_key, content_type=content_type)
    via_server = httpx.post(
        vigil_server.url + path,
        content=body,
        headers={"authorization": f"Bearer {org_a.ingest_key}", "content-type": content_type},
    )
    assert via_django.status_code == via_server.status_code == 415
    assert via_server.content == via_django.content
    if path != "/v1/logs":
        message = via_server.json()["error"]["message"]
        assert message == f"Unsupported charset {charset.lower()!r}: JSON bodies must be UTF-8."
    assert count("logs_event", org_a.project.id) == 0


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", 'application/json; charset="UTF-8"']
)
def test_utf8_declared_or_implied_is_accepted(org_a, content_type):
    response = post("/api/v1/ingest/logs", '[{"message": "é"}]', org_a.ingest_key, content_type=content_type)
    assert response.status_code == 200
    assert [row["message"] for row in logs_of(org_a.project.id)] == ["é"]


def test_a_charset_on_protobuf_is_irrelevant_and_ignored(vigil_server, org_a):
    response = httpx.post(
        vigil_server.url + "/v1/logs",
        content=logs_request(log_record("proto")).SerializeToString(),
        headers={
            "authorization": f"Bearer {org_a.ingest_key}",
            "content-type": "application/x-protobuf; charset=utf-16",
        },
    )
    assert response.status_code == 200
    assert count("logs_event", org_a.project.id) == 1
