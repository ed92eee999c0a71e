"""Sentry transactions and logs into Vigil's spans and logs, through ingestion's own pipeline.

A `transaction` item becomes an OTLP trace request (root span + child spans), a `log` item's
records become native log records; ingestion's services take them from there
(`store_otlp_message`, `store_native_records`), so validation, redaction, retention, quota,
metering, the write path and live announcements are exactly those of OTLP and native ingestion.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from apps.errors.models import DsnKey
from apps.ingestion import services
from apps.ingestion.batch import Batch
from apps.projects.authentication import KeyIdentity
from apps.projects.models import KeyScope

SERVICE_FALLBACK = "unknown_service"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _ns(value: Any) -> int:
    """Sentry times are seconds (floats) or RFC 3339 text; 0 when unreadable (the span is then
    rejected by the decoder, like an OTLP span without a time)."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value * 1_000_000) * 1000  # microseconds first: floats carry no more
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
            return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    except (ValueError, OverflowError):
        pass
    return 0


def _hex(value: Any, length: int) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        return b""
    return raw if len(raw) == length else b""


def service_of(payload: dict[str, Any]) -> str:
    """Sentry has no service name: a `service` tag, else the release's package (`shop@1.4` → shop)."""
    tag = _dict(payload.get("tags")).get("service")
    release = _text(payload.get("release"))
    return _text(tag) or (release.split("@", 1)[0] if "@" in release else "") or SERVICE_FALLBACK


def _attributes(values: dict[str, Any]) -> list[KeyValue]:
    attributes = []
    for name, value in values.items():
        attribute = KeyValue(key=str(name)[:256])
        if isinstance(value, bool):
            attribute.value.bool_value = value
        elif isinstance(value, int) and -(2**63) <= value < 2**63:
            attribute.value.int_value = value
        elif isinstance(value, float):
            attribute.value.double_value = value
        else:
            attribute.value.string_value = value if isinstance(value, str) else str(value)
        attributes.append(attribute)
    return attributes


def _status(sentry_status: Any) -> Status:
    if not sentry_status:
        return Status()
    if sentry_status == "ok":
        return Status(code=Status.STATUS_CODE_OK)
    return Status(code=Status.STATUS_CODE_ERROR, message=str(sentry_status))


def transaction_request(payload: dict[str, Any]) -> ExportTraceServiceRequest:
    trace = _dict(_dict(payload.get("contexts")).get("trace"))
    trace_id = _hex(trace.get("trace_id"), 16)
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        _attributes(
            {
                "service.name": service_of(payload),
                **({"service.version": payload["release"]} if _text(payload.get("release")) else {}),
                **(
                    {"deployment.environment": payload["environment"]}
                    if _text(payload.get("environment"))
                    else {}
                ),
            }
        )
    )
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "sentry"
    root = Span(
        trace_id=trace_id,
        span_id=_hex(trace.get("span_id"), 8),
        parent_span_id=_hex(trace.get("parent_span_id"), 8),
        name=_text(payload.get("transaction")) or _text(trace.get("op")) or "transaction",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=_ns(payload.get("start_timestamp")),
        end_time_unix_nano=_ns(payload.get("timestamp")),
        status=_status(trace.get("status")),
    )
    root.attributes.extend(_attributes({"sentry.op": _text(trace.get("op")), **_dict(payload.get("tags"))}))
    scope.spans.append(root)
    for child in payload.get("spans") or []:
        if not isinstance(child, dict):
            continue
        span = Span(
            trace_id=_hex(child.get("trace_id"), 16) or trace_id,
            span_id=_hex(child.get("span_id"), 8),
            parent_span_id=_hex(child.get("parent_span_id"), 8),
            name=_text(child.get("description")) or _text(child.get("op")) or "span",
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=_ns(child.get("start_timestamp")),
            end_time_unix_nano=_ns(child.get("timestamp")),
            status=_status(child.get("status")),
        )
        span.attributes.extend(
            _attributes(
                {"sentry.op": _text(child.get("op")), **_dict(child.get("data")), **_dict(child.get("tags"))}
            )
        )
        scope.spans.append(span)
    return request


def log_records(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A `log` item's `items` as native log records ({timestamp, level, message, service, …})."""
    records = []
    for item in payload.get("items") or []:
        if not isinstance(item, dict):
            continue
        attributes = {
            str(name): _dict(value).get("value", value)
            for name, value in _dict(item.get("attributes")).items()
        }
        release = _text(attributes.get("sentry.release"))
        records.append(
            {
                "timestamp": item.get("timestamp"),
                "level": item.get("level") or "info",
                "message": _text(item.get("body")),
                "service": _text(attributes.get("service.name"))
                or (release.split("@", 1)[0] if "@" in release else SERVICE_FALLBACK),
                "trace_id": item.get("trace_id") or None,
                "span_id": item.get("span_id") or None,
                "attributes": attributes,
            }
        )
    return records


def _identity(key: DsnKey, organization_id: int) -> KeyIdentity:
    # A negative id: ingestion's per-key rate-limit buckets are keyed by id, and a DSN key must
    # never share the bucket of the API key that happens to have the same primary key.
    return KeyIdentity(-key.pk, key.project_id, organization_id, KeyScope.INGEST, f"dsn:{key.public_key[:8]}")


def spans_store(key: DsnKey, organization_id: int, payload: dict[str, Any]) -> Batch:
    return services.store_otlp_message(
        _identity(key, organization_id), "traces", transaction_request(payload)
    )


def logs_store(key: DsnKey, organization_id: int, payload: dict[str, Any]) -> Batch:
    return services.store_native_records(_identity(key, organization_id), "logs", log_records(payload))
