"""Byte-level envelopes and store requests through the Sentry endpoint's handler (the function
both the ASGI fast path and nothing else serve), then the rows they left."""

from __future__ import annotations

import gzip
import uuid
import zlib

import brotli
import orjson
import pytest
import zstandard

from apps.errors.dsn import dsn_key_create, dsn_key_revoke, dsn_of
from apps.errors.ingest import SentryRequest, handle
from apps.errors.models import Event, Issue, SdkDiscard
from tests.errors.conftest import exception_event, frame, grouped


def request(
    project_id: int,
    body: bytes,
    query: str = "",
    auth: str = "",
    encoding: str = "",
    kind: str = "envelope",
    method: str = "POST",
):
    reply = handle(SentryRequest(method, project_id, kind, query, auth, encoding, str(len(body)), body))
    grouped()  # what the web process's grouper does right after the answer
    return reply


def event_json(message: str = "boom", event_id: str | None = None) -> bytes:
    return orjson.dumps({"event_id": event_id or uuid.uuid4().hex, "message": message, "level": "error"})


def envelope(*items: tuple[dict, bytes], header: dict | None = None, newline: bytes = b"\n") -> bytes:
    lines = [orjson.dumps(header or {})]
    for item_header, payload in items:
        lines += [orjson.dumps(item_header), payload]
    return newline.join(lines) + newline


def test_an_event_with_sentry_key_in_the_query_makes_an_issue(dsn_key):
    event_id = uuid.uuid4().hex
    payload = event_json("disk full", event_id)
    body = envelope(({"type": "event", "length": len(payload)}, payload), header={"event_id": event_id})

    reply = request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}&sentry_version=7")

    assert reply.status == 200, reply.body
    assert orjson.loads(reply.body) == {"id": event_id}
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    issue = Issue.objects.get(project=dsn_key.project)
    assert (issue.title, issue.event_count, issue.substatus) == ("disk full", 1, "new")


def test_items_without_length_and_crlf_line_ends_are_read(dsn_key):
    first, second = event_json("first"), event_json("second")
    body = envelope(({"type": "event"}, first), ({"type": "event"}, second), newline=b"\r\n")

    reply = request(
        dsn_key.project_id, body, auth=f"Sentry sentry_key={dsn_key.public_key}, sentry_version=7"
    )

    assert reply.status == 200, reply.body
    assert sorted(Issue.objects.values_list("title", flat=True)) == ["first", "second"]


def test_a_length_delimited_payload_may_contain_newlines(dsn_key):
    payload = orjson.dumps({"message": "x"}, option=orjson.OPT_INDENT_2)
    body = envelope(({"type": "event", "length": len(payload)}, payload))

    assert b"\n" in payload
    assert request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}").status == 200
    assert Event.objects.count() == 1


def test_unknown_item_types_are_skipped_without_losing_the_rest(dsn_key):
    payload = event_json("kept")
    body = envelope(
        ({"type": "hologram", "length": 5}, b"\x00\x01\n\x02\x03"),
        ({"type": "event", "length": len(payload)}, payload),
        ({"type": "profile"}, b"{}"),
    )

    reply = request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}")

    assert reply.status == 200
    assert list(Issue.objects.values_list("title", flat=True)) == ["kept"]


def test_a_header_only_envelope_is_accepted_and_stores_nothing(dsn_key):
    reply = request(
        dsn_key.project_id,
        b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n',
        query=f"sentry_key={dsn_key.public_key}",
    )

    assert reply.status == 200
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "Empty envelope"),
        (b"[1]\n", "must be a JSON object"),
        (b'{}\n{"type":"event","length":100}\n{"message":"short"}\n', "truncated"),
        (b'{}\n{"length":2}\n{}\n', "no `type`"),
        (b'{}\n{"type":"event","length":-1}\n{}\n', "invalid `length`"),
        (b"{}\nnot json\n", "not valid JSON"),
    ],
)
def test_a_malformed_envelope_is_a_400_and_stores_nothing(dsn_key, body, says):
    reply = request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}")

    assert reply.status == 400
    assert says in orjson.loads(reply.body)["error"]["message"]
    assert reply.headers["X-Sentry-Error"]
    assert not Event.objects.exists()


def test_the_dsn_in_the_envelope_header_is_enough(dsn_key):
    dsn = dsn_of(dsn_key, "https://vigil.example")
    body = envelope(({"type": "event"}, event_json("only dsn")), header={"dsn": dsn})

    assert request(dsn_key.project_id, body).status == 200
    assert Issue.objects.get().title == "only dsn"


def test_disagreeing_credentials_are_refused(dsn_key, org_a):
    other = dsn_key_create(org_a.project, "second")
    body = envelope(({"type": "event"}, event_json()), header={"dsn": dsn_of(other, "http://v")})

    by_header = request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}")
    by_two_places = request(
        dsn_key.project_id,
        envelope(({"type": "event"}, event_json())),
        query=f"sentry_key={dsn_key.public_key}",
        auth=f"Sentry sentry_key={other.public_key}",
    )

    assert (by_header.status, by_two_places.status) == (403, 403)
    assert not Event.objects.exists()


def test_bad_missing_revoked_and_other_projects_keys_are_refused(dsn_key, org_b):
    body = envelope(({"type": "event"}, event_json()))
    b_key = dsn_key_create(org_b.project)
    project = dsn_key.project_id

    unknown = request(project, body, query="sentry_key=" + "0" * 32)
    missing = request(project, body)
    other_project = request(project, body, query=f"sentry_key={b_key.public_key}")
    dsn_key_revoke(dsn_key)
    revoked = request(project, body, query=f"sentry_key={dsn_key.public_key}")

    assert (unknown.status, missing.status, other_project.status, revoked.status) == (403, 401, 403, 403)
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", brotli.compress),
        ("zstd", lambda data: zstandard.ZstdCompressor().compress(data)),
    ],
)
def test_compressed_bodies_are_read(dsn_key, encoding, compress):
    body = envelope(({"type": "event"}, event_json(f"via {encoding}")))

    reply = request(
        dsn_key.project_id, compress(body), query=f"sentry_key={dsn_key.public_key}", encoding=encoding
    )

    assert reply.status == 200, reply.body
    assert Issue.objects.get().title == f"via {encoding}"


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("br", brotli.compress), ("zstd", lambda data: zstandard.ZstdCompressor().compress(data))],
)
def test_a_decompression_bomb_is_a_413(dsn_key, settings, encoding, compress):
    settings.INGEST_MAX_DECOMPRESSED_BYTES = 10_000
    bomb = compress(b"{}\n" + b" " * 1_000_000)

    reply = request(dsn_key.project_id, bomb, query=f"sentry_key={dsn_key.public_key}", encoding=encoding)

    assert reply.status == 413


def test_garbage_in_a_compressed_body_is_a_400_and_an_unknown_encoding_a_415(dsn_key):
    query = f"sentry_key={dsn_key.public_key}"

    assert request(dsn_key.project_id, b"not zstd", query=query, encoding="zstd").status == 400
    assert request(dsn_key.project_id, b"not br", query=query, encoding="br").status == 400
    assert request(dsn_key.project_id, b"x", query=query, encoding="lzma").status == 415


def test_a_body_over_the_cap_is_a_413(dsn_key, settings):
    settings.INGEST_MAX_BODY_BYTES = 1000

    reply = request(dsn_key.project_id, b"{}\n" + b" " * 2000, query=f"sentry_key={dsn_key.public_key}")

    assert reply.status == 413


def test_the_same_event_id_twice_is_stored_once(dsn_key):
    event_id = uuid.uuid4().hex
    body = envelope(({"type": "event"}, event_json("retried", event_id)))

    first = request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}")
    second = request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}")

    assert (first.status, second.status) == (200, 200)
    assert Event.objects.count() == 1
    assert Issue.objects.get().event_count == 1


def test_the_legacy_store_endpoint_takes_a_plain_event(dsn_key):
    event = exception_event("KeyError", "'sku'", [frame("shop.cart", "add", "item = catalog[sku]")])

    reply = request(
        dsn_key.project_id,
        orjson.dumps(event),
        auth=f"Sentry sentry_key={dsn_key.public_key}",
        kind="store",
    )

    assert reply.status == 200, reply.body
    issue = Issue.objects.get()
    assert (issue.title, issue.culprit) == ("KeyError: 'sku'", "shop.cart in add")


def test_client_reports_are_counted(dsn_key):
    report = {"discarded_events": [{"reason": "ratelimit_backoff", "category": "error", "quantity": 3}]}
    body = envelope(({"type": "client_report"}, orjson.dumps(report)))

    request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}")
    request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}")

    assert SdkDiscard.objects.get().quantity == 6


def test_a_rate_limited_category_is_refused_alone_with_the_sentry_header(dsn_key, settings):
    settings.INGEST_RATE_PER_SECOND = 1
    settings.INGEST_RATE_BURST = 1
    query = f"sentry_key={dsn_key.public_key}"
    errors = envelope(({"type": "event"}, b'{"message":"one"}'), ({"type": "event"}, b'{"message":"two"}'))
    transaction = envelope(({"type": "transaction"}, b'{"type":"transaction"}'))

    request(dsn_key.project_id, errors, query=query)  # spends the error bucket
    refused = request(dsn_key.project_id, errors, query=query)
    other_category = request(dsn_key.project_id, transaction, query=query)

    assert refused.status == 429
    assert refused.headers["X-Sentry-Rate-Limits"].split(":")[1:] == ["error", "key"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert "x-sentry-rate-limits" in refused.headers["Access-Control-Expose-Headers"]
    assert other_category.status == 200
    assert Event.objects.count() == 2  # those of the first envelope only


def test_browsers_get_a_cors_preflight_and_other_methods_a_405(dsn_key):
    preflight = request(dsn_key.project_id, b"", method="OPTIONS")
    get = request(dsn_key.project_id, b"", method="GET")

    assert preflight.status == 200
    assert "x-sentry-auth" in preflight.headers["Access-Control-Allow-Headers"]
    assert (get.status, get.headers["Allow"]) == (405, "POST, OPTIONS")
