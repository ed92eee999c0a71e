"""OTLP log records of the common shape are built by `otlp_decode._log_rows`' plain path when the
request body needs no masking; every other record by `_log_row`. What is stored must be exactly
what `_log_row` alone stores, whatever the record."""

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from apps.ingestion import otlp, otlp_decode
from apps.ingestion.cleaning import Cleaner
from apps.ingestion.redaction import REDACTED, Redactor
from tests.ingestion.messages import any_value

NOW_NS = time.time_ns()
DAY_NS = 86_400 * 10**9


def decoded(request: ExportLogsServiceRequest, plain: bool) -> tuple[list[tuple[Any, ...]], int, list[str]]:
    body = request.SerializeToString()
    message, _ = otlp.parse_request("logs", body, otlp.PROTOBUF)
    # Without the body, the cleaner cannot vouch for verbatim text: every record takes _log_row.
    cleaner = Cleaner(Redactor(), clean_body=body if plain else b"")
    batch = otlp_decode.decode_logs(7, message, cleaner)
    # observed_ts (column 2) is the time of decoding for a record without one, and so may be ts.
    rows = [row[:2] + row[3:] if row[1] != row[2] else row[3:] for row in batch.logs]
    return rows, batch.rejected, batch.reasons


def request_of(records: list[LogRecord], scope_name: str = "app") -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.add(key="service.name").value.string_value = "checkout"
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = scope_name
    scope_logs.log_records.extend(records)
    return request


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
TIMES = st.one_of(
    st.just(0),
    st.integers(NOW_NS - 10 * DAY_NS, NOW_NS),
    st.sampled_from([1, NOW_NS - 40 * DAY_NS, NOW_NS + 2 * DAY_NS, 2**64 - 1]),
)
SCALARS = st.one_of(
    TEXT,
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)


@st.composite
def log_record(draw: st.DrawFn) -> LogRecord:
    ts = draw(TIMES)
    record = LogRecord(
        time_unix_nano=ts,
        observed_time_unix_nano=draw(st.one_of(st.just(0), st.just(ts), TIMES)),
        severity_number=draw(st.sampled_from([0, 9, 17, 24])),
        severity_text=draw(st.sampled_from(["", "WARN", "Warning", "INFO", "bogus"])),
        event_name=draw(st.sampled_from(["", "", "", "checkout.done"])),
        dropped_attributes_count=draw(st.sampled_from([0, 0, 0, 3])),
        flags=draw(st.sampled_from([0, 0, 1, 257])),
        trace_id=draw(st.one_of(st.just(b""), st.binary(min_size=16, max_size=16), st.just(bytes(16)))),
        span_id=draw(st.one_of(st.just(b""), st.binary(min_size=8, max_size=8), st.just(bytes(8)))),
    )
    record.body.string_value = draw(TEXT)
    keys = st.sampled_from(["user.id", "http.route", "n", "ok", "k" * 64, "otel.scope.name"])
    for key, value in draw(st.lists(st.tuples(keys, SCALARS), max_size=5)):
        record.attributes.append(KeyValue(key=key, value=any_value(value)))
    return record


ODD_RECORDS = {
    "no body": LogRecord(time_unix_nano=NOW_NS, severity_number=9),
    "int body": LogRecord(time_unix_nano=NOW_NS, severity_number=9, body=AnyValue(int_value=5)),
    "map body": LogRecord(time_unix_nano=NOW_NS, severity_number=9, body=any_value({"a": [1, "x"]})),
    "NUL in body": LogRecord(time_unix_nano=NOW_NS, severity_number=9, body=any_value("a\x00b")),
    "long body": LogRecord(time_unix_nano=NOW_NS, severity_number=9, body=any_value("x" * 17_000)),
    "severity text only": LogRecord(time_unix_nano=NOW_NS, severity_text="error", body=any_value("m")),
    "15-byte trace id": LogRecord(time_unix_nano=NOW_NS, severity_number=9, trace_id=b"\x01" * 15),
    "9-byte span id": LogRecord(time_unix_nano=NOW_NS, severity_number=9, span_id=b"\x01" * 9),
    "zero ids": LogRecord(time_unix_nano=NOW_NS, severity_number=9, trace_id=bytes(16), span_id=bytes(8)),
    "too old": LogRecord(time_unix_nano=NOW_NS - 40 * DAY_NS, severity_number=9),
    "observed too new": LogRecord(observed_time_unix_nano=NOW_NS + 2 * DAY_NS, severity_number=9),
    "observed only": LogRecord(observed_time_unix_nano=NOW_NS - 5, severity_number=9),
}
ODD_ATTRIBUTES = {
    "sensitive key": {"password": "hunter2"},
    "NUL in key": {"k\x00": 1},
    "long key": {"x" * 65: 1},
    "NUL in value": {"n": "a\x00b"},
    "long value": {"long": "v" * 17_000},
    "NaN": {"nan": float("nan")},
    "-Infinity": {"inf": float("-inf")},
    "nested": {"nested": {"password": "hunter2", "a": [1, 2]}},
    "list": {"list": [1, "two"]},
    "bytes": {"raw": b"\x00\xff"},
    "many": {str(n): n for n in range(200)},
}


@st.composite
def records(draw: st.DrawFn) -> list[LogRecord]:
    drawn = draw(st.lists(log_record(), min_size=1, max_size=6))
    for _ in range(draw(st.integers(0, 2))):
        index = draw(st.integers(0, len(drawn) - 1))
        if draw(st.booleans()):
            drawn[index] = LogRecord()
            drawn[index].CopyFrom(ODD_RECORDS[draw(st.sampled_from(sorted(ODD_RECORDS)))])
        else:
            odd = ODD_ATTRIBUTES[draw(st.sampled_from(sorted(ODD_ATTRIBUTES)))]
            drawn[index].attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in odd.items())
    return drawn


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.sampled_from(["app", "", "s" * 300]))
def test_the_plain_path_stores_exactly_what_record_by_record_decoding_stores(drawn, scope_name):
    request = request_of(drawn, scope_name)
    assert decoded(request, plain=True) == decoded(request, plain=False)


def plain_record(n: int) -> LogRecord:
    record = LogRecord(
        time_unix_nano=NOW_NS - n,
        observed_time_unix_nano=NOW_NS,
        severity_number=9,
        trace_id=(n + 1).to_bytes(16, "big"),
        span_id=(n + 1).to_bytes(8, "big"),
        body=any_value(f"request {n}"),
    )
    for key, value in {"n": n, "ok": True, "ratio": 0.5, "who": "ann"}.items():
        record.attributes.append(KeyValue(key=key, value=any_value(value)))
    return record


ODD_NAMES = sorted(ODD_RECORDS) + [f"attributes: {name}" for name in sorted(ODD_ATTRIBUTES)]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_each_odd_record_among_plain_ones_is_stored_as_record_by_record_decoding_stores_it(name):
    if name.startswith("attributes: "):
        odd = plain_record(1)
        values = ODD_ATTRIBUTES[name.removeprefix("attributes: ")]
        odd.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in values.items())
    else:
        odd = ODD_RECORDS[name]
    request = request_of([plain_record(0), odd, plain_record(2)])
    assert decoded(request, plain=True) == decoded(request, plain=False)


def test_typical_records_take_the_plain_path():
    cleaner = Cleaner(Redactor(), clean_body=b"a clean body")
    make_row = otlp_decode._log_rows(
        7, otlp_decode.TimeWindow(), cleaner, "checkout", b"\x01{}", {"otel.scope.name": "app"}
    )
    assert make_row.__name__ == "plain_row"
    row = make_row(plain_record(3))
    attributes = b'\x01{"n":3,"ok":true,"ratio":0.5,"who":"ann","otel.scope.name":"app"}'
    assert row[5:9] == (f"{4:032x}", f"{4:016x}", "request 3", attributes)


def test_a_body_with_a_secret_is_masked_as_record_by_record_decoding_would():
    odd = plain_record(1)
    odd.attributes.append(KeyValue(key="card", value=any_value("4111-1111-1111-1111")))
    request = request_of([plain_record(0), odd])
    rows, rejected, _ = decoded(request, plain=True)
    assert rejected == 0 and REDACTED.encode() in rows[1][-2] and b"4111" not in rows[1][-2]
    assert (rows, rejected) == decoded(request, plain=False)[:2]
