"""Every bad input: the right status, the error body, and not a row stored."""

import gzip
import json
import random
import tracemalloc
import zlib

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingestion.conftest import count, logs_of, points_of, spans_of
from tests.ingestion.messages import log_record, logs_request, now_ns
from tests.telemetry import post, post_json

PROTOBUF = "application/x-protobuf"
TABLES = ("logs_event", "metrics_point", "traces_span")


def nothing_stored(project_id: int) -> bool:
    return all(count(table, project_id) == 0 for table in TABLES)


def test_a_body_over_the_cap_is_413_before_it_is_read(org_a, settings):
    settings.INGEST_MAX_BODY_BYTES = 1000
    response = post_json("/api/v1/ingest/logs", [{"message": "x" * 2000}], org_a.ingest_key)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert nothing_stored(org_a.project.id)


def test_a_gzip_bomb_is_413_without_being_inflated_in_memory(org_a, settings):
    settings.INGEST_MAX_DECOMPRESSED_BYTES = 5 * 1024 * 1024
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1024 * 1024)
    bomb = b"".join(compressor.compress(chunk) for _ in range(512)) + compressor.flush()  # 512 MiB inflated
    assert len(bomb) < 1024 * 1024
    tracemalloc.start()
    try:
        response = post("/v1/logs", bomb, org_a.ingest_key, PROTOBUF, headers={"content-encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert peak < 30 * 1024 * 1024
    assert nothing_stored(org_a.project.id)


def test_a_truncated_gzip_body_is_400(org_a):
    body = gzip.compress(orjson.dumps([{"message": "x" * 1000}]))[:-20]
    response = post("/api/v1/ingest/logs", body, org_a.ingest_key, headers={"content-encoding": "gzip"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Truncated compressed body."
    assert nothing_stored(org_a.project.id)


def test_an_unknown_content_encoding_is_415(org_a):
    response = post("/v1/logs", b"\x00\x01", org_a.ingest_key, PROTOBUF, headers={"content-encoding": "br"})
    assert response.status_code == 415
    assert nothing_stored(org_a.project.id)


@pytest.mark.parametrize("path", ["/v1/logs", "/api/v1/ingest/logs"])
def test_a_wrong_content_type_is_415(org_a, path):
    response = post(path, "message=hello", org_a.ingest_key, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert nothing_stored(org_a.project.id)


def test_malformed_protobuf_is_400_with_the_reason(org_a):
    response = post("/v1/logs", b"\x0a\xff\xff\xff\xff\x0f garbage", org_a.ingest_key, PROTOBUF)
    assert response.status_code == 400
    assert response["Content-Type"] == PROTOBUF
    assert b"Malformed OTLP protobuf" in response.content
    assert nothing_stored(org_a.project.id)


@pytest.mark.parametrize("path", ["/v1/logs", "/api/v1/ingest/logs", "/api/v1/ingest/metrics"])
def test_malformed_json_is_400_with_the_reason(org_a, path):
    response = post(path, b'[{"message": "unterminated', org_a.ingest_key)
    assert response.status_code == 400
    assert b"Malformed JSON" in response.content
    assert nothing_stored(org_a.project.id)


def test_nan_is_not_json_and_is_refused_with_400(org_a):
    response = post(
        "/api/v1/ingest/metrics", b'[{"name": "x", "type": "gauge", "value": NaN}]', org_a.ingest_key
    )
    assert response.status_code == 400


def test_nul_bytes_are_stored_escaped_in_native_json(org_a):
    records = [{"message": "a\u0000b", "attributes": {"k\u0000ey": "v\u0000", "nested": ["\u0000"]}}]
    assert post_json("/api/v1/ingest/logs", records, org_a.ingest_key).status_code == 200
    (row,) = logs_of(org_a.project.id)
    assert row["message"] == "a\\u0000b"
    assert row["attributes"] == {"k\\u0000ey": "v\\u0000", "nested": ["\\u0000"]}


def test_nul_bytes_are_stored_escaped_in_protobuf(org_a):
    record = log_record("x\x00y", attributes={"a": "\x00"})
    assert (
        post("/v1/logs", logs_request(record).SerializeToString(), org_a.ingest_key, PROTOBUF).status_code
        == 200
    )
    (row,) = logs_of(org_a.project.id)
    assert row["message"] == "x\\u0000y" and row["attributes"]["a"] == "\\u0000"


def test_lone_surrogates_are_stored_escaped(org_a):
    body = b'[{"message": "bad \\ud800 here", "attributes": {"\\udfff": "\\ud83d"}}]'
    assert post("/api/v1/ingest/logs", body, org_a.ingest_key).status_code == 200
    otlp = b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "otlp \\udc00"}}]}]}]}'
    assert post("/v1/logs", otlp, org_a.ingest_key).status_code == 200
    messages = sorted(row["message"] for row in logs_of(org_a.project.id))
    assert messages == ["bad \\ud800 here", "otlp \\udc00"]
    native = next(row for row in logs_of(org_a.project.id) if row["message"].startswith("bad"))
    assert native["attributes"] == {"\\udfff": "\\ud83d"}


def _deep_any_value(depth: int) -> bytes:
    """AnyValue nested `depth` times through kvlist_value, hand-encoded (protobuf refuses to build it)."""

    def field(number: int, payload: bytes) -> bytes:
        length, varint = len(payload), bytearray()
        while True:
            byte, length = length & 0x7F, length >> 7
            varint.append(byte | (0x80 if length else 0))
            if not length:
                break
        return bytes([number << 3 | 2]) + bytes(varint) + payload

    value = field(1, b"leaf")  # AnyValue.string_value
    for _ in range(depth):
        value = field(6, field(1, field(1, b"k") + field(2, value)))  # kvlist_value.values[0] = {k: value}
    return value


def test_ten_thousand_deep_attribute_values_are_refused_without_a_crash(org_a):
    deep = _deep_any_value(10_000)
    record = (
        log_record("deep").SerializeToString()
        + bytes([6 << 3 | 2])
        + _varint_len(b"\x0a\x01k\x12" + _varint_len(deep) + deep)
        + b"\x0a\x01k\x12"
        + _varint_len(deep)
        + deep
    )
    # LogRecord.attributes (field 6) = {k: deep}; wrap into the request by hand as well.
    scope = bytes([2 << 3 | 2]) + _varint_len(record) + record  # ScopeLogs.log_records
    resource = bytes([2 << 3 | 2]) + _varint_len(scope) + scope  # ResourceLogs.scope_logs
    body = bytes([1 << 3 | 2]) + _varint_len(resource) + resource  # request.resource_logs
    response = post("/v1/logs", body, org_a.ingest_key, PROTOBUF)
    assert response.status_code == 400
    native = "[" * 10_000 + "]" * 10_000
    response = post(
        "/api/v1/ingest/logs", f'[{{"message": "deep", "attributes": {{"a": {native}}}}}]', org_a.ingest_key
    )
    assert response.status_code == 400
    assert nothing_stored(org_a.project.id)


def _varint_len(payload: bytes) -> bytes:
    length, varint = len(payload), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(varint)


def test_deep_values_within_the_parser_limits_are_cut_and_flagged(org_a):
    value: object = "leaf"
    for _ in range(40):
        value = {"k": value}
    assert (
        post_json(
            "/api/v1/ingest/logs", [{"message": "m", "attributes": {"a": value}}], org_a.ingest_key
        ).status_code
        == 200
    )
    (row,) = logs_of(org_a.project.id)
    assert row["attributes"]["vigil.truncated"] is True
    assert "[depth limit]" in orjson.dumps(row["attributes"]).decode()


def test_a_hundred_thousand_attribute_keys_are_capped_and_counted(org_a):
    attributes = {f"key{i}": i for i in range(100_000)}
    assert (
        post_json(
            "/api/v1/ingest/logs", [{"message": "wide", "attributes": attributes}], org_a.ingest_key
        ).status_code
        == 200
    )
    (row,) = logs_of(org_a.project.id)
    assert len(row["attributes"]) == 128 + 1
    assert row["attributes"]["vigil.dropped_attributes"] == 100_000 - 128


def test_a_message_over_64_kib_is_truncated_and_flagged(org_a):
    assert post_json("/api/v1/ingest/logs", [{"message": "é" * 40_000}], org_a.ingest_key).status_code == 200
    (row,) = logs_of(org_a.project.id)
    assert len(row["message"].encode()) == 65536
    assert row["attributes"] == {"vigil.truncated": True}


def test_all_zero_log_trace_ids_mean_no_trace_and_wrong_lengths_are_rejected(org_a):
    records = [
        {"message": "zero", "trace_id": "0" * 32, "span_id": "0" * 16},
        {"message": "short", "trace_id": "abc"},
        {"message": "long", "span_id": "a" * 18},
    ]
    response = post_json("/api/v1/ingest/logs", records, org_a.ingest_key)
    assert response.json()["rejected"] == 2
    (row,) = logs_of(org_a.project.id)
    assert row["trace_id"] is None and row["span_id"] is None


@pytest.mark.parametrize(
    "path", ["/v1/logs", "/v1/metrics", "/v1/traces", "/api/v1/ingest/logs", "/api/v1/ingest/metrics"]
)
def test_random_bytes_never_cause_a_server_error(org_a, path):
    generator = random.Random(path)
    valid = logs_request(log_record("seed", now_ns(), attributes={"a": [1, {"b": 2.5}]})).SerializeToString()
    for attempt in range(60):
        if attempt % 2:
            body = bytearray(valid)
            for _ in range(generator.randint(1, 8)):
                body[generator.randrange(len(body))] = generator.randrange(256)
            body = bytes(body)
        else:
            body = generator.randbytes(generator.randint(0, 300))
        for content_type in (PROTOBUF, "application/json"):
            response = post(path, body, org_a.ingest_key, content_type)
            assert response.status_code < 500, (body, response.content)


def test_nul_bytes_in_names_units_scopes_and_trace_states_are_stored_escaped(org_a):
    from tests.ingestion.messages import SPAN_ID, TRACE_ID, metrics_request, span, traces_request

    start = now_ns()
    item = span("n\x00ame", start, start + 1, trace_state="k=v\x00")
    item.events.add(name="e\x00", time_unix_nano=start)
    item.links.add(trace_id=TRACE_ID, span_id=SPAN_ID, trace_state="x\x00")
    request = traces_request(item)
    request.resource_spans[0].scope_spans[0].scope.name = "scope\x00"
    assert post("/v1/traces", request.SerializeToString(), org_a.ingest_key, PROTOBUF).status_code == 200
    metrics, scope = metrics_request()
    scope.metrics.add(name="m\x00", unit="b\x00").gauge.data_points.add(time_unix_nano=start, as_double=1.0)
    assert post("/v1/metrics", metrics.SerializeToString(), org_a.ingest_key, PROTOBUF).status_code == 200
    native = [{"name": "n", "type": "gauge", "value": 1, "unit": "u\u0000"}]
    assert post_json("/api/v1/ingest/metrics", native, org_a.ingest_key).status_code == 200
    (row,) = spans_of(org_a.project.id)
    assert (row["name"], row["trace_state"]) == ("n\\u0000ame", "k=v\\u0000")
    assert row["events"][0]["name"] == "e\\u0000" and row["links"][0]["trace_state"] == "x\\u0000"
    assert row["attributes"]["otel.scope.name"] == "scope\\u0000"
    assert sorted((p["name"], p["unit"]) for p in points_of(org_a.project.id)) == [
        ("m\\u0000", "b\\u0000"),
        ("n", "u\\u0000"),
    ]


# --- One bad record is a rejection of that record, never a 500 ------------------------------------

SURROGATE_BODY_RECORD = b'{"message": "lone \\ud800 surrogate"}'


@pytest.mark.parametrize(
    ("path", "odd", "field"),
    [
        ("/api/v1/ingest/metrics", b'{"name": "m", "type": "gauge", "value": NaN}', "NaN"),
        ("/api/v1/ingest/metrics", b'{"name": "m", "type": "gauge", "value": -Infinity}', "Infinity"),
        ("/api/v1/ingest/metrics", b'{"name": "m", "type": "gauge", "value": 1e400}', "infinity"),
        ("/api/v1/ingest/logs", b'{"message": "m", "attributes": {"n": Infinity}}', "Infinity"),
        ("/api/v1/ingest/logs", b'{"message": "m", "level": NaN}', "NaN"),
    ],
)
def test_a_lone_surrogate_does_not_make_the_parser_accept_what_json_refuses(org_a, path, odd, field):
    """orjson refuses lone surrogate escapes, so such bodies go to a second parser: it must refuse
    exactly what orjson refuses (here NaN/Infinity, not JSON), with the same 400, not a 500."""
    for body in (b"[" + SURROGATE_BODY_RECORD + b", " + odd + b"]", SURROGATE_BODY_RECORD + b"\n" + odd):
        response = post(path, body, org_a.ingest_key)
        assert response.status_code == 400, response.content
        assert "Malformed JSON" in response.json()["error"]["message"]
    assert nothing_stored(org_a.project.id)


def test_seventy_bit_integers_next_to_a_lone_surrogate_are_read_as_orjson_reads_them(org_a):
    huge = 2**70
    records = [
        b'{"message": "lone \\ud800", "attributes": {"big": %d, "small": 18446744073709551615}}' % huge,
        b'{"message": "plain", "level": %d}' % huge,  # a bad level: this record alone is rejected
        b'{"message": "ts", "timestamp": %d}' % huge,  # out of the accepted window: rejected
    ]
    records += [b'{"message": "valid %d"}' % i for i in range(100)]
    response = post("/api/v1/ingest/logs", b"[" + b",".join(records) + b"]", org_a.ingest_key)
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 101 and response.json()["rejected"] == 2
    assert count("logs_event", org_a.project.id) == 101
    lone = next(row for row in logs_of(org_a.project.id) if row["message"].startswith("lone"))
    assert lone["message"] == "lone \\ud800"
    assert lone["attributes"] == {"big": float(huge), "small": 18446744073709551615}  # as orjson: a float


def test_raw_utf8_encoded_surrogates_are_malformed_as_without_an_escaped_one(org_a):
    body = b'[{"message": "escaped \\ud800"}, {"message": "raw \xed\xa0\x80"}]'
    response = post("/api/v1/ingest/logs", body, org_a.ingest_key)
    assert response.status_code == 400
    assert nothing_stored(org_a.project.id)


# --- Fuzzing the native endpoints: never a 500, and what is acknowledged is stored -----------------

ODD_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["\ud800", "a\udfffb", "\x00", "Bearer abcdef123456", "4111 1111 1111 1111", "", "é" * 5]
    ),
)
ODD_NUMBERS = st.one_of(
    st.integers(-(2**80), 2**80),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**70, -(2**63) - 1, now_ns()]),
    st.floats(),  # NaN and infinities included: written as JSON's lookalikes NaN / Infinity
    st.sampled_from([1e18, 1.7e9, -0.0, 1e308]),
)
ODD_SCALARS = st.one_of(st.none(), st.booleans(), ODD_NUMBERS, ODD_TEXT)
ODD_VALUES = st.recursive(
    ODD_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(ODD_TEXT, inner, max_size=3)),
    max_leaves=8,
)


def field(valid: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(valid, ODD_VALUES)


LOG_RECORDS = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": field(st.sampled_from([now_ns(), "2026-01-01T00:00:00Z", 1.7e9])),
        "level": field(st.sampled_from(["info", "ERROR", 9, 17, "warn"])),
        "message": field(st.text(max_size=20)),
        "service": field(st.sampled_from(["api", "checkout"])),
        "trace_id": field(st.sampled_from(["ab" * 16, "0" * 32])),
        "span_id": field(st.sampled_from(["cd" * 8, "0" * 16])),
        "attributes": field(st.dictionaries(ODD_TEXT, ODD_VALUES, max_size=4)),
    },
)
METRIC_RECORDS = st.fixed_dictionaries(
    {},
    optional={
        "name": field(st.sampled_from(["jobs", "latency", "x" * 255])),
        "type": field(st.sampled_from(["counter", "gauge", "histogram"])),
        "value": ODD_NUMBERS,
        "buckets": field(
            st.fixed_dictionaries(
                {"bounds": st.lists(ODD_NUMBERS, max_size=3), "counts": st.lists(ODD_NUMBERS, max_size=4)}
            )
        ),
        "count": ODD_NUMBERS,
        "sum": ODD_NUMBERS,
        "timestamp": field(st.sampled_from([now_ns(), "2026-01-01T00:00:00+02:00"])),
        "labels": field(st.dictionaries(ODD_TEXT, ODD_SCALARS, max_size=3)),
        "unit": field(st.sampled_from(["ms", "By"])),
    },
)


def json_text(value: object) -> bytes:
    """JSON as a lax writer produces it: lone surrogates escaped, NaN/Infinity and huge integers
    written out (json.dumps does all three)."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


@st.composite
def native_bodies(draw: st.DrawFn, records: st.SearchStrategy) -> tuple[bytes, int | None]:
    """(body, number of records) — the number is None when the body is not a list of records."""
    items = draw(st.lists(st.one_of(records, records, ODD_VALUES), max_size=6))
    shape = draw(st.sampled_from(["array", "ndjson", "mangled", "other"]))
    if shape == "array":
        return json_text(items), len(items)
    if shape == "ndjson":
        lines = [json_text(item) for item in items if isinstance(item, dict)]
        return b"\n".join(lines), len(lines) if lines else None
    if shape == "mangled":
        body = bytearray(json_text(items))
        for _ in range(draw(st.integers(1, 3))):
            if body:
                body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
        return bytes(body), None
    return draw(st.one_of(st.binary(max_size=40), ODD_VALUES.map(json_text))), None


def stored(project_id: int) -> int:
    return count("logs_event", project_id) + count("metrics_point", project_id)


@pytest.mark.parametrize(
    ("path", "records"), [("/api/v1/ingest/logs", LOG_RECORDS), ("/api/v1/ingest/metrics", METRIC_RECORDS)]
)
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_native_body_causes_a_server_error_and_every_acknowledged_record_is_stored(
    org_a, path, records, data
):
    body, sent = data.draw(native_bodies(records))
    before = stored(org_a.project.id)
    response = post(path, body, org_a.ingest_key)
    assert response.status_code < 500, response.content
    answer = response.json()
    if response.status_code != 200:
        assert set(answer["error"]) == {"code", "message", "details"}
        assert stored(org_a.project.id) == before
        return
    assert stored(org_a.project.id) - before == answer["accepted"]
    assert answer["rejected"] == len(answer["errors"])
    if sent is not None:
        assert answer["accepted"] + answer["rejected"] == sent
