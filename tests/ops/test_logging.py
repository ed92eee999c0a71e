from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator

import pytest
from django.test import Client

from apps.projects import keyformat

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def console_handler() -> logging.Handler:
    return next(h for h in logging.getLogger().handlers if h.name == "console")


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured console handler (JSON formatter + filters from settings.LOGGING) writes."""
    handler = console_handler()
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@pytest.fixture
def unreachable_redis(settings, closed_port: int) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    settings.CELERY_BROKER_URL = settings.REDIS_URL


@pytest.mark.django_db
@pytest.mark.usefixtures("unreachable_redis")
def test_log_lines_emitted_during_a_request_are_json_and_carry_its_request_id(console):
    # Only this thread's lines: threads that earlier tests started log meanwhile, outside any
    # request (seen: the live publisher, finding this test's unreachable Redis). The test client
    # serves on this thread.
    handler = console_handler()
    this_thread = threading.get_ident()

    def from_this_thread(record: logging.LogRecord) -> bool:
        return record.thread == this_thread

    handler.addFilter(from_this_thread)
    try:
        # A failing readiness check logs from the view, and django.request logs the 503 after the
        # middleware.
        response = Client().get("/health/ready", HTTP_X_REQUEST_ID="req-42")
    finally:
        handler.removeFilter(from_this_thread)

    assert response.status_code == 503
    records = lines(console)
    loggers = {record["logger"] for record in records}
    assert {"apps.ops.health", "django.request"} <= loggers
    assert all(record["request_id"] == "req-42" for record in records), records
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)


def test_an_incoming_request_id_is_echoed_back():
    response = Client().get("/health", HTTP_X_REQUEST_ID="edge-7f3a:1")

    assert response["X-Request-ID"] == "edge-7f3a:1"


def test_a_request_id_is_generated_when_none_is_sent():
    first = Client().get("/health")["X-Request-ID"]
    second = Client().get("/health")["X-Request-ID"]

    assert GENERATED_ID.match(first)
    assert first != second


@pytest.mark.parametrize("incoming", ["", "has spaces", "x" * 65, "line\nbreak", "<script>"])
def test_an_invalid_request_id_is_replaced_by_a_generated_one(incoming):
    response = Client().get("/health", HTTP_X_REQUEST_ID=incoming)

    assert GENERATED_ID.match(response["X-Request-ID"])


def test_api_keys_bearer_tokens_and_passwords_are_masked_in_messages(console):
    api_key = keyformat.generate("ingest")
    logger = logging.getLogger("tests.ops")

    logger.warning("rejected key %s", api_key)
    logger.warning("headers: Authorization: Bearer xyzSecretToken123456")
    logger.warning("login form password=hunter2-secret&next=/")
    logger.warning('payload {"password": "correct horse battery", "secret_key": "s3cr3t"}')

    output = console.getvalue()
    for secret in (
        api_key,
        api_key[len("vgl_ingest_") :],
        "xyzSecretToken123456",
        "hunter2",
        "correct horse",
        "s3cr3t",
    ):
        assert secret not in output
    messages = [record["message"] for record in lines(console)]
    assert messages[0] == "rejected key vgl_ingest_[REDACTED]"
    assert messages[1] == "headers: Authorization: Bearer [REDACTED]"
    assert messages[2] == "login form password=[REDACTED]&next=/"


def test_secrets_are_masked_in_tracebacks_and_extra_fields(console):
    logger = logging.getLogger("tests.ops")

    try:
        raise ValueError("could not connect: password=hunter2")
    except ValueError:
        logger.exception(
            "boom", extra={"authorization": "Bearer xyzSecretToken123456", "payload": {"token": "t0k"}}
        )

    output = console.getvalue()
    assert "hunter2" not in output
    assert "xyzSecretToken123456" not in output
    assert "t0k" not in output
    record = lines(console)[0]
    assert "ValueError: could not connect: password=[REDACTED]" in record["exc_info"]
    assert record["payload"] == {"token": "[REDACTED]"}


def test_secrets_in_a_query_string_do_not_leak_through_the_request_logged_by_django(console):
    response = Client().get("/no-such-page?token=qs-secret-123&password=hunter2", HTTP_X_REQUEST_ID="req-404")

    assert response.status_code == 404
    output = console.getvalue()
    assert "qs-secret-123" not in output
    assert "hunter2" not in output
    record = next(r for r in lines(console) if r["logger"] == "django.request")
    assert record["request_id"] == "req-404"
