"""What OTLP clients send beyond the columns is kept: a severity text that says more than its
number, the event name, dropped-attribute counts, the record's trace flags, the instrumentation
scope's version and attributes, and the span's own trace state (shown by the trace API)."""

from __future__ import annotations

import time

from django.test import Client
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from tests.ingestion.conftest import logs_of
from tests.telemetry import post

PROTOBUF = "application/x-protobuf"
TRACE = "5b8efff798038103d269b633813fc60c"


def test_log_record_fields_without_a_column_are_kept_as_attributes(org_a):
    request = ExportLogsServiceRequest()
    scope_logs = request.resource_logs.add().scope_logs.add()
    scope_logs.scope.name, scope_logs.scope.version = "shop.audit", "1.4.2"
    scope_logs.scope.attributes.append(KeyValue(key="library.language", value={"string_value": "python"}))
    now = time.time_ns()
    audit = scope_logs.log_records.add(time_unix_nano=now, severity_number=9, severity_text="AUDIT")
    audit.body.string_value = "role granted"
    audit.event_name, audit.dropped_attributes_count = "user.role_granted", 2
    plain = scope_logs.log_records.add(time_unix_nano=now - 1, severity_number=13, severity_text="WARNING")
    plain.body.string_value = "disk filling"

    response = post("/v1/logs", request.SerializeToString(), org_a.ingest_key, content_type=PROTOBUF)

    assert response.status_code == 200
    rows = {row["message"]: row for row in logs_of(org_a.project.id)}
    scope = {
        "otel.scope.name": "shop.audit",
        "otel.scope.version": "1.4.2",
        "otel.scope.attributes": {"library.language": "python"},
    }
    assert rows["role granted"]["attributes"] == {
        **scope,
        "otel.severity_text": "AUDIT",
        "event.name": "user.role_granted",
        "otel.dropped_attributes_count": 2,
    }
    # WARNING is only the name of 13 (WARN): nothing to add.
    assert rows["disk filling"]["attributes"] == scope


def test_a_log_records_trace_flags_are_kept_whatever_its_shape(org_a):
    request = ExportLogsServiceRequest()
    scope_logs = request.resource_logs.add().scope_logs.add()
    now = time.time_ns()
    for message, flags in (("sampled", 1), ("not sampled", 0)):
        # The common shape (built inline when the body needs no masking) ...
        record = scope_logs.log_records.add(
            time_unix_nano=now,
            severity_number=9,
            trace_id=bytes.fromhex(TRACE),
            span_id=b"\x02" * 8,
            flags=flags,
        )
        record.body.string_value = message
    # ... and one with a map body, which always takes the general path.
    mapped = scope_logs.log_records.add(time_unix_nano=now, severity_number=9, flags=1)
    mapped.body.kvlist_value.values.append(KeyValue(key="order", value={"int_value": 7}))

    response = post("/v1/logs", request.SerializeToString(), org_a.ingest_key, content_type=PROTOBUF)

    assert response.status_code == 200
    rows = {row["message"]: row["attributes"] for row in logs_of(org_a.project.id)}
    assert rows["sampled"] == {"otel.flags": 1}
    assert rows["not sampled"] == {}
    assert rows['{"order":7}'] == {"otel.flags": 1}


def test_the_trace_api_shows_a_spans_own_trace_state(org_a):
    request = ExportTraceServiceRequest()
    span = (
        request.resource_spans.add()
        .scope_spans.add()
        .spans.add(
            trace_id=bytes.fromhex(TRACE), span_id=b"\x01" * 8, name="checkout", trace_state="vendor=abc,x=1"
        )
    )
    span.end_time_unix_nano = time.time_ns()
    span.start_time_unix_nano = span.end_time_unix_nano - 1000
    span.dropped_attributes_count = 4
    assert (
        post("/v1/traces", request.SerializeToString(), org_a.ingest_key, content_type=PROTOBUF).status_code
        == 200
    )

    response = Client().get(
        f"/api/v1/projects/{org_a.project.id}/traces/{TRACE}",
        headers={"authorization": f"Bearer {org_a.read_key}"},
    )

    assert response.status_code == 200, response.content
    [stored] = response.json()["spans"]
    assert stored["trace_state"] == "vendor=abc,x=1"
    assert stored["attributes"]["otel.dropped_attributes_count"] == 4
