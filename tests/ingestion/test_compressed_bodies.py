"""Compressed bodies through the real server: every gzip member is decoded (a body cut into several
members by `cat a.gz b.gz`, a streaming compressor or an HTTP client), under one decompressed cap,
and whatever the server acknowledges is stored."""

import gzip
import zlib

import httpx
import orjson
import pytest

from tests.ingestion.conftest import count, logs_of
from tests.ingestion.messages import log_record, logs_request, now_ns
from tests.telemetry import post

pytestmark = pytest.mark.django_db(transaction=True)

PROTOBUF = "application/x-protobuf"


def members(*parts: bytes) -> bytes:
    """One gzip member per part, concatenated as `cat a.gz b.gz` does."""
    return b"".join(gzip.compress(part) for part in parts)


def send(server, path: str, body: bytes, key: str, content_type: str = "application/json") -> httpx.Response:
    headers = {"authorization": f"Bearer {key}", "content-type": content_type, "content-encoding": "gzip"}
    return httpx.post(server.url + path, content=body, headers=headers, timeout=30)


def test_every_member_of_a_native_json_array_is_stored(vigil_server, org_a):
    records = [{"message": f"m{i}"} for i in range(100)]
    text = orjson.dumps(records)
    cut = text.index(b'{"message":"m50"}')  # the array itself spans both members
    response = send(vigil_server, "/api/v1/ingest/logs", members(text[:cut], text[cut:]), org_a.ingest_key)
    assert response.status_code == 200 and response.json()["accepted"] == 100
    stored = sorted(row["message"] for row in logs_of(org_a.project.id))
    assert stored == sorted(record["message"] for record in records)


def test_every_member_of_ndjson_metrics_is_stored(vigil_server, org_a):
    lines = [orjson.dumps({"name": "jobs", "type": "counter", "value": i}) + b"\n" for i in range(30)]
    body = members(b"".join(lines[:10]), b"".join(lines[10:20]), b"".join(lines[20:]))
    response = send(vigil_server, "/api/v1/ingest/metrics", body, org_a.ingest_key, "application/x-ndjson")
    assert response.status_code == 200 and response.json()["accepted"] == 30
    assert count("metrics_point", org_a.project.id) == 30


def test_every_member_of_an_otlp_protobuf_body_is_stored(vigil_server, org_a):
    # Concatenated protobuf messages merge: the repeated resource_logs of both requests are kept.
    first = logs_request(log_record("first", now_ns())).SerializeToString()
    second = logs_request(log_record("second", now_ns()), log_record("third", now_ns())).SerializeToString()
    response = send(vigil_server, "/v1/logs", members(first, second), org_a.ingest_key, PROTOBUF)
    assert response.status_code == 200
    assert sorted(row["message"] for row in logs_of(org_a.project.id)) == ["first", "second", "third"]


def test_every_member_of_an_otlp_json_body_is_stored(vigil_server, org_a):
    records = [{"body": {"stringValue": f"otlp {i}"}} for i in range(4)]
    text = orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]})
    body = members(text[:40], text[40:80], text[80:])
    response = send(vigil_server, "/v1/logs", body, org_a.ingest_key)
    assert response.status_code == 200
    assert sorted(row["message"] for row in logs_of(org_a.project.id)) == [f"otlp {i}" for i in range(4)]


def test_zero_padding_after_the_last_member_is_ignored(vigil_server, org_a):
    body = members(b'[{"message": "a"},', b'{"message": "b"}]') + b"\0" * 512
    response = send(vigil_server, "/api/v1/ingest/logs", body, org_a.ingest_key)
    assert response.status_code == 200 and response.json()["accepted"] == 2
    assert count("logs_event", org_a.project.id) == 2


def test_garbage_after_the_last_member_is_400_and_nothing_is_stored(vigil_server, org_a):
    body = members(b'[{"message": "a"}]') + b"not gzip"
    response = send(vigil_server, "/api/v1/ingest/logs", body, org_a.ingest_key)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Malformed compressed body")
    assert count("logs_event", org_a.project.id) == 0


def test_a_truncated_second_member_is_400_and_nothing_is_stored(vigil_server, org_a):
    body = members(b'[{"message": "a"},', b'{"message": "b"}]')[:-6]
    response = send(vigil_server, "/api/v1/ingest/logs", body, org_a.ingest_key)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Truncated compressed body."
    assert count("logs_event", org_a.project.id) == 0


def test_the_decompressed_cap_counts_all_members_together(org_a, settings):
    settings.INGEST_MAX_DECOMPRESSED_BYTES = 100_000
    padding = b" " * 60_000  # each member is under the cap, both together are over it
    body = members(b'[{"message": "a"},' + padding, padding + b'{"message": "b"}]')
    response = post("/api/v1/ingest/logs", body, org_a.ingest_key, headers={"content-encoding": "gzip"})
    assert response.status_code == 413
    assert response.json()["error"]["details"] == {"limit": 100_000}
    assert count("logs_event", org_a.project.id) == 0


def test_many_empty_members_are_decoded_without_losing_the_last_one(org_a):
    body = members(*[b""] * 20_000, b'[{"message": "after the empties"}]')
    response = post("/api/v1/ingest/logs", body, org_a.ingest_key, headers={"content-encoding": "gzip"})
    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert [row["message"] for row in logs_of(org_a.project.id)] == ["after the empties"]


def test_concatenated_deflate_streams_are_all_decoded(org_a):
    body = zlib.compress(b'[{"message": "one"},') + zlib.compress(b'{"message": "two"}]')
    response = post("/api/v1/ingest/logs", body, org_a.ingest_key, headers={"content-encoding": "deflate"})
    assert response.status_code == 200 and response.json()["accepted"] == 2
    assert count("logs_event", org_a.project.id) == 2
