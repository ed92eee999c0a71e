"""Small builders of OTLP request messages for tests."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")


def now_ns() -> int:
    return time.time_ns()


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        result = AnyValue()
        result.array_value.values.extend(any_value(v) for v in value)
        return result
    if isinstance(value, dict):
        result = AnyValue()
        result.kvlist_value.values.extend(attributes(value))
        return result
    return AnyValue(string_value=value)


def attributes(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in values.items()]


def logs_request(*records: LogRecord, service: str = "checkout") -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(attributes({"service.name": service, "host.name": "web-1"}))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "app.payments"
    scope_logs.log_records.extend(records)
    return request


def log_record(message: str, ns: int | None = None, **fields: Any) -> LogRecord:
    extra = fields.pop("attributes", {})
    record = LogRecord(time_unix_nano=ns or now_ns(), body=AnyValue(string_value=message), **fields)
    record.attributes.extend(attributes(extra))
    return record


def traces_request(*spans: Span) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(attributes({"service.name": "checkout"}))
    resource_spans.scope_spans.add().spans.extend(spans)
    return request


def span(
    name: str,
    start: int,
    end: int,
    trace_id: bytes = TRACE_ID,
    span_id: bytes = SPAN_ID,
    parent: bytes = b"",
    **fields: Any,
) -> Span:
    extra = fields.pop("attributes", {})
    result = Span(
        name=name,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        **fields,
    )
    result.attributes.extend(attributes(extra))
    return result


def metrics_request() -> tuple[ExportMetricsServiceRequest, Any]:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(attributes({"service.name": "checkout"}))
    return request, resource_metrics.scope_metrics.add()
