"""OTLP/HTTP with hand-built messages, in both encodings. Real SDK exporters: test_real_clients.py."""

import base64

import orjson
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.ingestion.conftest import count, logs_of, points_of, spans_of
from tests.ingestion.messages import (
    SPAN_ID,
    TRACE_ID,
    log_record,
    logs_request,
    metrics_request,
    now_ns,
    span,
    traces_request,
)
from tests.telemetry import post

PROTOBUF = "application/x-protobuf"


def to_otlp_json(message) -> bytes:
    """The OTLP JSON mapping: like protobuf's, but trace/span ids as hex."""
    data = json_format.MessageToDict(message)

    def fix(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                else:
                    fix(value)
        elif isinstance(node, list):
            for item in node:
                fix(item)

    fix(data)
    return orjson.dumps(data)


def test_protobuf_logs_are_stored_and_answered_with_an_empty_protobuf_response(org_a):
    ns = now_ns()
    record = log_record(
        "card declined",
        ns,
        severity_number=17,
        severity_text="ERROR",
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        attributes={"user.id": 7, "ratio": 0.5, "tags": ["a", "b"]},
    )
    response = post("/v1/logs", logs_request(record).SerializeToString(), org_a.ingest_key, PROTOBUF)
    assert response.status_code == 200
    assert response["Content-Type"] == PROTOBUF
    assert ExportLogsServiceResponse.FromString(response.content) == ExportLogsServiceResponse()
    (row,) = logs_of(org_a.project.id)
    assert (row["message"], row["level"], row["service"]) == ("card declined", 17, "checkout")
    assert row["trace_id"] == TRACE_ID.hex() and row["span_id"] == SPAN_ID.hex()
    assert int(row["ts"].timestamp() * 1_000_000) == ns // 1000
    assert row["attributes"] == {
        "user.id": 7,
        "ratio": 0.5,
        "tags": ["a", "b"],
        "otel.scope.name": "app.payments",
    }
    assert row["resource"] == {"service.name": "checkout", "host.name": "web-1"}


def test_otlp_json_logs_with_hex_ids_are_stored_with_the_same_ids(org_a):
    record = log_record("hello", severity_number=9, trace_id=TRACE_ID, span_id=SPAN_ID)
    response = post("/v1/logs/", to_otlp_json(logs_request(record)), org_a.ingest_key, gzipped=True)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {}
    (row,) = logs_of(org_a.project.id)
    assert row["trace_id"] == TRACE_ID.hex() and row["span_id"] == SPAN_ID.hex()


def test_otlp_json_int64_values_are_read_from_strings_and_numbers(org_a):
    ns = now_ns()
    body = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(ns),
                                "severityNumber": 13,
                                "body": {"stringValue": "as string"},
                                "attributes": [{"key": "n", "value": {"intValue": "9007199254740993"}}],
                            },
                            {
                                "timeUnixNano": ns,
                                "severityNumber": "SEVERITY_NUMBER_WARN",
                                "body": {"stringValue": "as number"},
                                "attributes": [{"key": "n", "value": {"intValue": 5}}],
                            },
                        ]
                    }
                ]
            }
        ]
    }
    assert post("/v1/logs", orjson.dumps(body), org_a.ingest_key).status_code == 200
    rows = sorted(logs_of(org_a.project.id), key=lambda r: r["message"])
    assert [(r["message"], r["level"], r["attributes"]["n"]) for r in rows] == [
        ("as number", 13, 5),
        ("as string", 13, 9007199254740993),
    ]
    assert int(rows[0]["ts"].timestamp() * 1_000_000) == ns // 1000


def test_rejected_log_records_are_counted_in_partial_success_while_valid_ones_are_stored(org_a):
    good = log_record("good")
    bad = log_record("bad id", trace_id=b"\x01\x02\x03")
    ancient = log_record("ancient", ns=1_000_000_000)
    response = post(
        "/v1/logs", logs_request(good, bad, ancient).SerializeToString(), org_a.ingest_key, PROTOBUF
    )
    assert response.status_code == 200
    partial = ExportLogsServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_log_records == 2
    assert "record 1: trace_id must be 16 bytes, got 3" in partial.error_message
    assert [row["message"] for row in logs_of(org_a.project.id)] == ["good"]


def test_spans_are_stored_with_parent_kind_status_events_and_links(org_a):
    start = now_ns()
    parent = span("checkout", start, start + 5_000_123, kind=2, attributes={"http.route": "/pay"})
    parent.status.code = 2
    parent.status.message = "boom"
    event = parent.events.add(name="exception", time_unix_nano=start + 1000)
    event.attributes.add(key="exception.type", value={"string_value": "ValueError"})
    child_id = bytes.fromhex("00f067aa0ba902b7")
    child = span("db", start + 10, start + 20, span_id=child_id, parent=SPAN_ID, kind=3)
    link = child.links.add(trace_id=TRACE_ID, span_id=SPAN_ID)
    link.attributes.add(key="why", value={"string_value": "retry"})
    response = post(
        "/v1/traces", traces_request(parent, child).SerializeToString(), org_a.ingest_key, PROTOBUF
    )
    assert response.status_code == 200
    first, second = sorted(spans_of(org_a.project.id), key=lambda row: row["name"])
    assert (first["name"], first["kind"], first["status_code"], first["status_message"]) == (
        "checkout",
        2,
        2,
        "boom",
    )
    assert first["parent_span_id"] is None and first["duration_ns"] == 5_000_123
    assert first["events"] == [
        {"name": "exception", "time_unix_nano": start + 1000, "attributes": {"exception.type": "ValueError"}}
    ]
    assert (second["parent_span_id"], second["span_id"], second["trace_id"]) == (
        SPAN_ID.hex(),
        child_id.hex(),
        TRACE_ID.hex(),
    )
    assert second["links"] == [
        {
            "trace_id": TRACE_ID.hex(),
            "span_id": SPAN_ID.hex(),
            "trace_state": "",
            "attributes": {"why": "retry"},
        }
    ]


def test_bad_spans_are_rejected_one_by_one(org_a):
    start = now_ns()
    spans = [
        span("ok", start, start + 1),
        span("backwards", start + 10, start),
        span("zero trace", start, start + 1, trace_id=bytes(16)),
        span("short", start, start + 1, trace_id=b"\x01"),
    ]
    body = to_otlp_json(traces_request(*spans))
    response = post("/v1/traces", body, org_a.ingest_key)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "3"
    assert "record 1: start time is after end time" in partial["errorMessage"]
    assert "record 2: trace_id and span_id must not be empty or all zero" in partial["errorMessage"]
    assert [row["name"] for row in spans_of(org_a.project.id)] == ["ok"]


def test_otlp_metrics_of_every_kind_are_stored_as_sent(org_a):
    request, scope = metrics_request()
    ts = now_ns()
    gauge = scope.metrics.add(name="cpu", unit="1")
    gauge.gauge.data_points.add(time_unix_nano=ts, as_double=0.25).attributes.add(
        key="core", value={"int_value": 0}
    )
    total = scope.metrics.add(name="requests")
    total.sum.aggregation_temporality = 2
    total.sum.is_monotonic = True
    total.sum.data_points.add(time_unix_nano=ts, start_time_unix_nano=ts - 10**9, as_int=41)
    total.sum.data_points.add(time_unix_nano=ts + 1000, start_time_unix_nano=ts - 10**9, as_int=42)
    histogram = scope.metrics.add(name="latency")
    histogram.histogram.aggregation_temporality = 1
    histogram.histogram.data_points.add(
        time_unix_nano=ts, count=3, sum=1.5, explicit_bounds=[1.0], bucket_counts=[2, 1], min=0.1, max=1.2
    )
    exponential = scope.metrics.add(name="size")
    point = exponential.exponential_histogram.data_points.add(
        time_unix_nano=ts, count=5, scale=2, zero_count=1
    )
    point.positive.offset = -1
    point.positive.bucket_counts.extend([1, 3])
    response = post("/v1/metrics", request.SerializeToString(), org_a.ingest_key, PROTOBUF)
    assert response.status_code == 200
    rows = {
        (row["name"], row["value"] if row["value"] is None else int(row["value"] * 100)): row
        for row in points_of(org_a.project.id)
    }
    assert rows[("cpu", 25)]["labels"] == {"service.name": "checkout", "core": 0}
    # Cumulative sums are stored as given: 41 then 42, never added together.
    assert rows[("requests", 4100)]["temporality"] == 2 and rows[("requests", 4200)]["is_monotonic"]
    latency = rows[("latency", None)]
    assert (latency["bounds"], latency["bucket_counts"], latency["count"], latency["sum"]) == (
        [1.0],
        [2, 1],
        3,
        1.5,
    )
    size = rows[("size", None)]
    assert (
        size["exp_scale"],
        size["exp_zero_count"],
        size["exp_positive_offset"],
        size["exp_positive_counts"],
    ) == (2, 1, -1, [1, 3])
    # Also on the fixed grid of ± half-powers of two that rollups and percentiles use: the zero
    # bucket (-2^-20, 2^-20] between the negative and positive halves, (2^-0.25, 1] inside
    # (2^-0.5, 1], (1, 2^0.25] inside (1, 2^0.5].
    grid = {index: count for index, count in enumerate(size["bucket_counts"]) if count}
    assert grid == {101: 1, 141: 1, 142: 3} and size["bounds"][141] == 1.0
    assert size["bounds"][100] == -(2**-20) and size["bounds"][101] == 2**-20


def test_non_finite_metric_values_are_stored_and_a_mismatched_histogram_is_rejected(org_a):
    request, scope = metrics_request()
    ts = now_ns()
    gauge = scope.metrics.add(name="weird")
    for value in (float("nan"), float("inf"), float("-inf")):
        gauge.gauge.data_points.add(time_unix_nano=ts, as_double=value)
    histogram = scope.metrics.add(name="broken")
    histogram.histogram.data_points.add(
        time_unix_nano=ts, count=3, explicit_bounds=[1.0, 2.0], bucket_counts=[3]
    )
    response = post("/v1/metrics", to_otlp_json(request), org_a.ingest_key)
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedDataPoints"] == "1"
    values = sorted(str(row["value"]) for row in points_of(org_a.project.id))
    assert values == ["-inf", "inf", "nan"]


def test_a_summary_metric_is_rejected_in_partial_success(org_a):
    request, scope = metrics_request()
    summary = scope.metrics.add(name="old-style")
    summary.summary.data_points.add(time_unix_nano=now_ns(), count=1, sum=1.0)
    response = post("/v1/metrics", request.SerializeToString(), org_a.ingest_key, PROTOBUF)
    assert response.status_code == 200
    assert count("metrics_point", org_a.project.id) == 0


def test_errors_are_a_status_message_in_the_request_encoding(db):
    response = post("/v1/traces", traces_request().SerializeToString(), None, PROTOBUF)
    assert response.status_code == 401
    assert response["Content-Type"] == PROTOBUF
    status = Status.FromString(response.content)
    assert (status.code, status.message) == (
        16,
        "Missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
    )
    json_response = post("/v1/traces", b"{}", None)
    assert json_response.json()["code"] == 16


def test_an_export_without_spans_is_a_success(org_a):
    request = traces_request()
    response = post("/v1/traces", request.SerializeToString(), org_a.ingest_key, PROTOBUF)
    assert response.status_code == 200
    assert ExportTraceServiceResponse.FromString(response.content) == ExportTraceServiceResponse()
