"""The ingestion endpoints in the OpenAPI schema (a drf-spectacular postprocessing hook).

Design note: ingestion is served by one framework-free `endpoint.handle` (plain Django views and
the ASGI fast path), not by DRF, so drf-spectacular cannot see it. This hook adds an operation for
every route in `endpoint.ROUTES`; each route needs a description here, and a test fails for one
that has none, so a new transport's route is never served undocumented.
"""

from __future__ import annotations

from typing import Any

from apps.ingestion.endpoint import ROUTES

TAG = "ingestion"

DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "ingestion:otlp-logs": (
        "OTLP/HTTP logs",
        "An OTLP `ExportLogsServiceRequest` from any OpenTelemetry SDK or Collector "
        "(`OTEL_EXPORTER_OTLP_ENDPOINT` set to Vigil's address), as protobuf or JSON, gzip or not. "
        "Answers an `ExportLogsServiceResponse` in the request's encoding; records that are refused "
        "are counted in `partialSuccess`.",
    ),
    "ingestion:otlp-metrics": (
        "OTLP/HTTP metrics",
        "An OTLP `ExportMetricsServiceRequest` (gauges, sums and histograms), as protobuf or JSON, "
        "gzip or not. Answers an `ExportMetricsServiceResponse` with refused points in `partialSuccess`.",
    ),
    "ingestion:otlp-traces": (
        "OTLP/HTTP traces",
        "An OTLP `ExportTraceServiceRequest`, as protobuf or JSON, gzip or not. Answers an "
        "`ExportTraceServiceResponse` with refused spans in `partialSuccess`.",
    ),
    "ingestion:native-logs": (
        "Send logs as JSON",
        "A JSON array of log records, or NDJSON (one record per line), in the native shape or as "
        "common loggers write them (python-json-logger, structlog, pino, bunyan, winston, ECS, Docker "
        "json-file: see the README's mapping table; unknown fields become attributes). A 2xx answer "
        "means every accepted record is committed; the answer counts accepted and rejected records "
        "with the reasons, and `warnings` says how many times without a zone were read in the "
        "project's log time zone.",
    ),
    "ingestion:prom-write": (
        "Prometheus remote-write",
        "Prometheus remote-write 1.0: a snappy-compressed protobuf `WriteRequest` "
        "(`Content-Encoding: snappy`), the ingest key as bearer token or basic-auth password. "
        "Answers 204 once committed (200 with the counts when some samples were refused); 4xx are "
        "final for Prometheus, 429 and 503 are retried.",
    ),
    "ingestion:native-metrics": (
        "Send metric points as JSON",
        "A JSON array of metric points (`counter`, `gauge` or `histogram`), or NDJSON. A 2xx answer "
        "means every accepted point is committed.",
    ),
}

OTLP_TYPES = ("application/x-protobuf", "application/json")
NATIVE_TYPES = ("application/json", "application/x-ndjson")

ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
            "required": ["code", "message", "details"],
        }
    },
}

NATIVE_LOG = {
    "type": "object",
    "properties": {
        "timestamp": {
            "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
            "description": "RFC 3339, or s/ms/µs/ns since the epoch (told apart by magnitude); "
            "missing means when received.",
        },
        "level": {
            "oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0, "maximum": 24}],
            "description": "A name (`debug`, `info`, `warn`, `error`, …) or an OTLP severity number.",
        },
        "message": {"type": "string"},
        "service": {"type": "string"},
        "trace_id": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
        "span_id": {"type": "string", "pattern": "^[0-9a-fA-F]{16}$"},
        "attributes": {"type": "object"},
    },
    "example": {
        "level": "error",
        "message": "payment failed",
        "service": "checkout",
        "attributes": {"order_id": 42},
    },
}

NATIVE_POINT = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "type": {"type": "string", "enum": ["counter", "gauge", "histogram"]},
        "value": {"type": "number", "description": "counters: the increment; gauges: the value"},
        "buckets": {
            "type": "object",
            "description": "histograms: one more count than bounds",
            "properties": {
                "bounds": {"type": "array", "items": {"type": "number"}},
                "counts": {"type": "array", "items": {"type": "integer"}},
            },
        },
        "timestamp": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "unit": {"type": "string"},
    },
    "required": ["name", "type"],
    "example": {"name": "http.server.duration", "type": "gauge", "value": 12.5, "labels": {"route": "/pay"}},
}

NATIVE_ANSWER = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer"},
        "rejected": {"type": "integer"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "warnings": {"type": "array", "items": {"type": "string"}},
    },
}

# The status codes every ingestion route may answer, and what a client should do (README).
FAILURES = {
    "400": "Malformed body.",
    "401": "Unknown or revoked key.",
    "403": "The key's scope cannot write.",
    "408": "The body stopped arriving (`INGEST_BODY_TIMEOUT_SECONDS`); the connection is closed.",
    "413": "Body too large (compressed or inflated).",
    "415": "Unsupported content type, encoding, or a JSON charset other than UTF-8.",
    "422": "No valid record.",
    "429": "Quota or rate limit; retry after `Retry-After`.",
    "503": "Storage unavailable; retry after `Retry-After`.",
}


def _operation(route_name: str, encoding: str, signal: str) -> dict[str, Any]:
    summary, description = DESCRIPTIONS[route_name]
    if encoding == "prom":
        body = {
            "type": "string",
            "format": "binary",
            "description": "snappy-compressed prometheus.WriteRequest",
        }
        request_content: dict[str, Any] = {"application/x-protobuf": {"schema": body}}
        answer: dict[str, Any] = {
            "description": "Committed, some samples refused (all committed: 204, no body).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestAnswer"}}},
        }
    elif encoding == "otlp":
        body = {"type": "string", "format": "binary", "description": "OTLP protobuf or OTLP/JSON"}
        request_content = {media: {"schema": body} for media in OTLP_TYPES}
        answer = {
            "description": f"Committed; refused {signal} counted in partialSuccess.",
            "content": {media: {"schema": body} for media in OTLP_TYPES},
        }
    else:
        record = {
            "$ref": f"#/components/schemas/{'IngestLogRecord' if signal == 'logs' else 'IngestMetricPoint'}"
        }
        request_content = {media: {"schema": {"type": "array", "items": record}} for media in NATIVE_TYPES}
        answer = {
            "description": "Committed.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestAnswer"}}},
        }
    failures = {
        status: {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status, text in FAILURES.items()
    }
    return {
        "operationId": route_name.partition(":")[2].replace("-", "_"),
        "summary": summary,
        "description": description,
        "tags": [TAG],
        "security": [{"ApiKey": []}],
        "requestBody": {"required": True, "content": request_content},
        "responses": {
            **({"204": {"description": "Committed."}} if encoding == "prom" else {}),
            "200": answer,
            **failures,
        },
    }


def add_ingestion_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry: one POST operation per ingestion route."""
    paths = result.setdefault("paths", {})
    for path, route in ROUTES.items():
        if path.endswith("/"):  # the trailing-slash twin of a route: same operation
            continue
        paths[path] = {"post": _operation(route.name, route.encoding, route.signal)}
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(
        {
            "Error": ERROR,
            "IngestLogRecord": NATIVE_LOG,
            "IngestMetricPoint": NATIVE_POINT,
            "IngestAnswer": NATIVE_ANSWER,
        }
    )
    security = result.setdefault("components", {}).setdefault("securitySchemes", {})
    security.setdefault("ApiKey", {"type": "http", "scheme": "bearer"})
    return result
