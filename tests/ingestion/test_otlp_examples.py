"""The official OTLP JSON examples (opentelemetry-proto `examples/`, copied unchanged into
tests/ingestion/otlp_examples with their licence) are accepted as sent and read back field by
field through the read API: logs and events through log search, the span through the trace view,
each metric (sum, gauge, histogram, exponential histogram) through the metric list and queries.

Their times (December 2018) are moved into the accepted window: every `*UnixNano` field is shifted
by the same amount, so the examples' own time relations hold. What each expectation is built from
is the example itself, so a newer copy of the files is checked the same way."""

from __future__ import annotations

import base64
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.test import Client

from tests.telemetry import post

EXAMPLES = Path(__file__).parent / "otlp_examples"
NEWEST_EXAMPLE_NS = 1544712661000000000  # the latest time in the examples (trace.json's span end)


def example(name: str, shift_ns: int) -> dict[str, Any]:
    """An example with its times moved by `shift_ns` (times are strings of uint64 in OTLP JSON)."""

    def moved(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: str(int(item) + shift_ns) if key.endswith("UnixNano") else moved(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [moved(item) for item in value]
        return value

    return moved(orjson.loads((EXAMPLES / name).read_bytes()))


@pytest.fixture
def shift_ns() -> int:
    return time.time_ns() - 600 * 10**9 - NEWEST_EXAMPLE_NS  # the newest example time: ten minutes ago


def sent(org: Any, signal: str, payload: dict[str, Any]) -> None:
    response = post(f"/v1/{signal}", orjson.dumps(payload), org.ingest_key)
    assert response.status_code == 200, response.content
    assert response.json() == {}, response.content  # no partial success: nothing rejected


def read(org: Any, path: str, **params: Any) -> Any:
    response = Client().get(
        f"/api/v1/projects/{org.project.id}/{path}",
        params,
        headers={"authorization": f"Bearer {org.read_key}"},
    )
    assert response.status_code == 200, response.content
    return response.json()


def plain(value: dict[str, Any]) -> Any:
    """An OTLP JSON AnyValue as the read API shows it."""
    [(kind, item)] = value.items()
    if kind == "kvlistValue":
        return attributes(item.get("values", []))
    if kind == "arrayValue":
        return [plain(element) for element in item.get("values", [])]
    if kind == "intValue":
        return int(item)
    if kind == "bytesValue":
        return base64.b64encode(base64.b64decode(item)).decode()
    return item


def attributes(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: plain(item["value"]) for item in items}


def scope_of(scope: dict[str, Any]) -> dict[str, Any]:
    return {
        "otel.scope.name": scope["name"],
        "otel.scope.version": scope["version"],
        "otel.scope.attributes": attributes(scope["attributes"]),
    }


def micros(timestamp: str) -> int:
    moment = datetime.fromisoformat(timestamp)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


@pytest.mark.parametrize("name", ["logs.json", "events.json"])
def test_the_log_examples_read_back_field_by_field(org_a, shift_ns, name):
    payload = example(name, shift_ns)
    sent(org_a, "logs", payload)

    found = read(org_a, "logs", start="-1h")["records"]

    [resource_logs] = payload["resourceLogs"]
    [scope_logs] = resource_logs["scopeLogs"]
    [record] = scope_logs["logRecords"]
    [stored] = found
    body = plain(record["body"])
    expected_attributes = {
        **attributes(record["attributes"]),
        **scope_of(scope_logs["scope"]),
        # Neither example's severity text is just its number's name (INFO2 at 10, INFO at 9).
        "otel.severity_text": record["severityText"],
    }
    if "eventName" in record:
        expected_attributes["event.name"] = record["eventName"]
    assert stored["attributes"] == expected_attributes
    assert stored["message"] == (body if isinstance(body, str) else orjson.dumps(body).decode())
    assert stored["severity"] == record["severityNumber"]
    assert micros(stored["timestamp"]) == int(record["timeUnixNano"]) // 1000
    assert micros(stored["observed_timestamp"]) == int(record["observedTimeUnixNano"]) // 1000
    assert stored["trace_id"] == (record["traceId"].lower() if "traceId" in record else None)
    assert stored["span_id"] == (record["spanId"].lower() if "spanId" in record else None)
    resource = attributes(resource_logs["resource"]["attributes"])
    assert stored["service"] == resource["service.name"]
    assert stored["resource"] == resource


def test_the_trace_example_reads_back_field_by_field(org_a, shift_ns):
    payload = example("trace.json", shift_ns)
    sent(org_a, "traces", payload)
    [resource_spans] = payload["resourceSpans"]
    [scope_spans] = resource_spans["scopeSpans"]
    [span] = scope_spans["spans"]

    trace = read(org_a, f"traces/{span['traceId'].lower()}")

    [stored] = trace["spans"]  # its parent was not sent: it is a root of the view
    assert stored["span_id"] == span["spanId"].lower()
    assert stored["parent_span_id"] == span["parentSpanId"].lower()
    assert stored["name"] == span["name"]
    assert stored["kind"] == span["kind"]
    start_ns, end_ns = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
    assert micros(stored["start"]) == start_ns // 1000
    assert stored["duration_ms"] == (end_ns - start_ns) / 1e6
    assert stored["attributes"] == {**attributes(span["attributes"]), **scope_of(scope_spans["scope"])}
    resource = attributes(resource_spans["resource"]["attributes"])
    assert stored["service"] == resource["service.name"]
    assert stored["resource"] == resource
    assert (stored["events"], stored["links"], stored["trace_state"]) == ([], [], "")


def test_the_metrics_example_reads_back_metric_by_metric(org_a, shift_ns):
    payload = example("metrics.json", shift_ns)
    sent(org_a, "metrics", payload)
    [resource_metrics] = payload["resourceMetrics"]
    [scope_metrics] = resource_metrics["scopeMetrics"]
    resource = attributes(resource_metrics["resource"]["attributes"])
    by_name = {metric["name"]: metric for metric in scope_metrics["metrics"]}

    listed = {metric["name"]: metric for metric in read(org_a, "metrics")["metrics"]}

    assert set(listed) == set(by_name)
    for name, metric in by_name.items():
        [kind] = set(metric) - {"name", "unit", "description"}
        [point] = metric[kind]["dataPoints"]
        labels = {**resource, **attributes(point["attributes"])}
        assert listed[name] == {
            "name": name,
            "type": {"exponentialHistogram": "exponential_histogram"}.get(kind, kind),
            "unit": metric["unit"],
            "description": metric["description"],
            "series": 1,
            "label_keys": sorted(labels),
        }
        values = {agg: value_of(org_a, name, agg, labels) for agg in AGGS[kind]}
        assert values == expected_values(kind, point), name


AGGS = {
    "sum": ["sum", "avg", "min", "max", "count"],
    "gauge": ["avg", "min", "max", "count"],
    "histogram": ["count", "sum", "min", "max", "avg", "p50"],
    "exponentialHistogram": ["count", "sum", "min", "max", "avg", "p50"],
}


def value_of(org: Any, name: str, agg: str, labels: dict[str, Any]) -> float | None:
    """The metric's `agg` over the last hour in one step, grouped by every label (one series)."""
    answer = read(org, "metrics/query", name=name, agg=agg, start="-1h", step="1h", group_by=",".join(labels))
    [series] = answer["series"]
    assert series["labels"] == labels
    [value] = [value for _, value in series["points"] if value is not None]
    return value


def expected_values(kind: str, point: dict[str, Any]) -> dict[str, float]:
    if kind in ("sum", "gauge"):
        value = point["asDouble"]  # one point (of a delta sum: its increase is its value)
        return {agg: 1.0 if agg == "count" else value for agg in AGGS[kind]}
    count, total = int(point["count"]), point["sum"]
    return {
        "count": float(count),
        "sum": total,
        "min": point["min"],
        "max": point["max"],
        "avg": total / count,
        "p50": MEDIANS[kind],
    }


# The true medians of the examples' observations: the histogram's two values fall one in
# (-inf, 1] and one in (1, +inf) with min 0 and max 2, so its median lies in [0, 2] and is
# interpolated in its bucket; the exponential histogram holds a zero and two values in (4, 8]
# with max 5 and sum 10, so the median is 5.
MEDIANS = {"histogram": 1.0, "exponentialHistogram": 5.0}
