"""OTLP/HTTP decoding (protobuf and the OTLP JSON mapping) into a Batch.

JSON goes through `google.protobuf.json_format` so both encodings share one decoder, after one
fix: OTLP/JSON carries trace and span ids as hex, while json_format reads `bytes` fields as base64
and would silently store garbage ids. int64 values as strings or numbers and enum numbers are
handled by json_format itself.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from apps.ingestion.cleaning import DEPTH_LIMIT_MARKER, MAX_DEPTH
from apps.ingestion.errors import IngestError
from apps.ingestion.records import loads_json

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_BAD_HEX = base64.b64encode(b"\xff").decode()  # one byte: fails the id length check of its record

REQUESTS: dict[str, type[Message]] = {
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "traces": ExportTraceServiceRequest,
}
RESPONSES: dict[str, type[Message]] = {
    "logs": ExportLogsServiceResponse,
    "metrics": ExportMetricsServiceResponse,
    "traces": ExportTraceServiceResponse,
}
REJECTED_FIELD = {
    "logs": "rejected_log_records",
    "metrics": "rejected_data_points",
    "traces": "rejected_spans",
}


def parse_request(signal: str, body: bytes, content_type: str) -> tuple[Any, bool]:
    """The Export*ServiceRequest message; returns (message, may_hold_lone_surrogates)."""
    message = REQUESTS[signal]()
    if content_type == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise IngestError(400, f"Malformed OTLP protobuf: {exc or 'cannot decode'}.") from None
        return message, False
    data, surrogates = loads_json(body)
    if not isinstance(data, dict):
        raise IngestError(400, "Malformed OTLP JSON: the body must be a JSON object.")
    if surrogates:
        data = escape_surrogates(data)
    _hex_ids_to_base64(signal, data)
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError, AttributeError) as exc:
        raise IngestError(400, f"Malformed OTLP JSON: {str(exc)[:300]}.") from None
    return message, False


def response_body(signal: str, content_type: str, rejected: int, message: str) -> bytes:
    response = RESPONSES[signal]()
    if rejected:
        setattr(response.partial_success, REJECTED_FIELD[signal], rejected)
        response.partial_success.error_message = message[:2000]
    if content_type == PROTOBUF:
        return response.SerializeToString()
    return orjson.dumps(json_format.MessageToDict(response))


def status_body(content_type: str, code: int, message: str) -> bytes:
    """A google.rpc.Status (code + message), hand-encoded to avoid depending on googleapis protos."""
    if content_type != PROTOBUF:
        return orjson.dumps({"code": code, "message": message})
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _hex_ids_to_base64(signal: str, data: dict[str, Any]) -> None:
    for record in _records_with_ids(signal, data):
        for key in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"):
            value = record.get(key)
            if isinstance(value, str) and value:
                record[key] = _hex_to_base64(value)


def _hex_to_base64(value: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        return _BAD_HEX


def _items(container: Any, *keys: str) -> list[Any]:
    for key in keys:
        value = container.get(key) if isinstance(container, dict) else None
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return []


def _records_with_ids(signal: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if signal == "logs":
        for resource in _items(data, "resourceLogs", "resource_logs"):
            for scope in _items(resource, "scopeLogs", "scope_logs"):
                found.extend(_items(scope, "logRecords", "log_records"))
    elif signal == "traces":
        for resource in _items(data, "resourceSpans", "resource_spans"):
            for scope in _items(resource, "scopeSpans", "scope_spans"):
                for span in _items(scope, "spans"):
                    found.append(span)
                    found.extend(_items(span, "links"))
    else:
        for resource in _items(data, "resourceMetrics", "resource_metrics"):
            for scope in _items(resource, "scopeMetrics", "scope_metrics"):
                for metric in _items(scope, "metrics"):
                    for kind in metric.values():
                        for point in _items(kind, "dataPoints", "data_points"):
                            found.extend(_items(point, "exemplars"))
    return found


def escape_surrogates(data: Any) -> Any:
    """Rare path (only when the stdlib parser was needed): protobuf strings cannot hold lone
    surrogates, so escape them before ParseDict. Iterative: the input may be deeply nested."""
    from apps.ingestion.cleaning import escape_surrogates_in

    root = [data]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        value = container[key]
        if isinstance(value, str):
            container[key] = escape_surrogates_in(value)
        elif isinstance(value, list):
            stack.extend((value, i) for i in range(len(value)))
        elif isinstance(value, dict):
            for k in list(value):
                clean_key = escape_surrogates_in(k) if isinstance(k, str) else k
                if clean_key != k:
                    value[clean_key] = value.pop(k)
                stack.append((value, clean_key))
    return root[0]


def any_value(value: Any, depth: int = 0) -> Any:
    """An OTLP AnyValue as a JSON-able Python value; nesting is cut at MAX_DEPTH."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in _SCALARS:
        return _SCALARS[kind](value)
    if depth >= MAX_DEPTH:
        return DEPTH_LIMIT_MARKER
    if kind == "array_value":
        return [any_value(item, depth + 1) for item in value.array_value.values[:]]  # [:]: see kv_dict
    return {kv.key: any_value(kv.value, depth + 1) for kv in value.kvlist_value.values[:]}


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "string_value": lambda v: v.string_value,
    "int_value": lambda v: v.int_value,
    "double_value": lambda v: v.double_value,
    "bool_value": lambda v: v.bool_value,
    "bytes_value": lambda v: base64.b64encode(v.bytes_value).decode(),
}


def kv_dict(items: Any) -> dict[str, Any]:
    result = {}
    # Scalars inline: this loop runs for every attribute of every record. items[:] is a list made
    # in one call; iterating the container itself ends with an IndexError, formatted, every time.
    for kv in items[:]:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            result[kv.key] = value.string_value
        elif kind == "int_value":
            result[kv.key] = value.int_value
        elif kind == "double_value":
            result[kv.key] = value.double_value
        elif kind == "bool_value":
            result[kv.key] = value.bool_value
        else:
            result[kv.key] = any_value(value)
    return result


def kv_dict_checked(items: Any, cleaner: Any) -> tuple[dict[str, Any], bool]:
    """kv_dict and Cleaner.is_plain in one pass: the OTLP hot path's attribute conversion."""
    result: dict[str, Any] = {}
    plain = len(items) <= cleaner.max_attributes
    short, known_keys = cleaner.max_value // 4, cleaner.plain_keys
    for kv in items[:]:  # [:]: see kv_dict
        key, value = kv.key, kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            text = result[key] = value.string_value
            if len(text) > short or "\x00" in text:
                plain = False
        elif kind == "int_value":
            result[key] = value.int_value
        elif kind == "double_value":
            number = result[key] = value.double_value
            if number - number != 0:  # NaN or ±Inf: jsonb cannot hold them
                plain = False
        elif kind == "bool_value":
            result[key] = value.bool_value
        else:
            result[key] = any_value(value)
            plain = False
        if plain and not (known_keys.get(key) or cleaner.is_plain_key(key)):  # memo first: keys repeat
            plain = False
    return result, plain
