"""A Sentry envelope whose body stops coming is answered 408 and the connection closed, like every
other ingest route (apps.ingestion.asgi), and nothing of it is stored."""

from __future__ import annotations

import orjson
import pytest

from apps.errors.models import Event
from tests.ingestion.test_slow_clients import exchange

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def impatient_server(django_db_setup, django_db_blocker):
    from tests.ingestion.server import Server

    server = Server(extra_env={"INGEST_BODY_TIMEOUT_SECONDS": "1"})
    yield server
    server.stop()


def test_a_stalled_envelope_is_answered_408_with_cors_and_closed(impatient_server, dsn_key):
    body = b'{}\n{"type":"event"}\n{"message":"never finished"}\n'
    head = (
        f"POST /api/{dsn_key.project_id}/envelope/?sentry_key={dsn_key.public_key} HTTP/1.1\r\nHost: x\r\n"
        f"content-length: {len(body) + 1000}\r\n\r\n"
    ).encode()

    answer = exchange(impatient_server.url, head + body)

    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"connection: close" in answer.lower()
    assert b"access-control-allow-origin: *" in answer.lower()
    assert orjson.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_timeout"
    assert not Event.objects.exists()
