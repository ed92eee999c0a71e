"""Events of any shape are stored or skipped, never a 500 or a 503 the SDK would retry forever."""

from __future__ import annotations

import orjson
import pytest

from apps.errors.ingest import SentryRequest, handle
from apps.errors.models import Event, Issue
from tests.errors.conftest import grouped


def send(dsn_key, payload: bytes):
    body = b'{}\n{"type":"event"}\n' + payload + b"\n"
    query = f"sentry_key={dsn_key.public_key}"
    reply = handle(SentryRequest("POST", dsn_key.project_id, "envelope", query, "", "", str(len(body)), body))
    grouped()  # what the web process's grouper does right after the answer
    return reply


def test_nul_characters_in_text_and_data_are_stored_without_them(dsn_key):
    event = {
        "message": "bad\u0000byte",
        "release": "1.0\u0000",
        "tags": {"k\u0000": "v\u0000"},
        "exception": {"values": [{"type": "Err\u0000or", "value": "x\u0000y"}]},
    }

    reply = send(dsn_key, orjson.dumps(event))

    assert reply.status == 200, reply.body
    issue = Issue.objects.get()
    assert "\x00" not in issue.title and issue.title.startswith("Err")
    assert Event.objects.get().release == "1.0"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"exception": "not a list", "timestamp": "yesterday", "level": 5, "user": [1]}',
        b'{"exception": {"values": [null, {"stacktrace": {"frames": [null, 3, {"in_app": "yes"}]}}]}}',
        b'{"fingerprint": [1, null, {"a": 2}], "contexts": {"trace": {"trace_id": 42}}}',
        b'{"timestamp": 1e300, "event_id": "not-a-uuid", "logentry": {"message": ["x"]}}',
        b'{"message": {"formatted": 5}, "release": {"v": 1}, "environment": 7}',
    ],
)
def test_odd_shapes_still_make_an_issue(dsn_key, payload):
    reply = send(dsn_key, payload)

    assert reply.status == 200, reply.body
    assert Event.objects.count() == 1


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"just text"', b"{not json", b'{"a": "\\ud800"}'])
def test_an_event_that_is_not_a_json_object_is_skipped(dsn_key, payload):
    reply = send(dsn_key, payload)

    assert reply.status == 200
    assert not Event.objects.exists()


def test_a_literal_backslash_u0000_in_text_is_kept(dsn_key):
    send(dsn_key, orjson.dumps({"message": "path C:\\u0000\\x", "extra": {"raw": "a\\\u0000b"}}))

    data = Event.objects.get().data
    assert data["message"] == "path C:\\u0000\\x"
    assert data["extra"]["raw"] == "a\\b"


def test_a_message_with_a_stack_but_no_exception_type_is_titled_by_the_message(dsn_key):
    # @sentry/node's captureMessage with attachStacktrace: a synthetic exception without `type`.
    event = {
        "message": "cart is slow",
        "level": "warning",
        "exception": {
            "values": [
                {
                    "value": "cart is slow",
                    "stacktrace": {"frames": [{"function": "checkout", "filename": "app.js"}]},
                    "mechanism": {"type": "generic", "synthetic": True},
                }
            ]
        },
    }

    assert send(dsn_key, orjson.dumps(event)).status == 200

    assert Issue.objects.get().title == "cart is slow"
