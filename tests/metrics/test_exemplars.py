"""Exemplars: the measurements OTLP points carry with the span they were taken in. They are kept
with their point and read back with the chart query, so a chart can link a spike to its trace."""

from __future__ import annotations

import time

import orjson
from django.test import Client
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from tests.metrics.conftest import query
from tests.telemetry import post

PROTOBUF = "application/x-protobuf"
TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"


def export(kind: str, now_ns: int, exemplar_ns: int, **exemplar: object) -> ExportMetricsServiceRequest:
    """One data point of `kind` with two exemplars, one sent with a time and one without."""
    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add().scope_metrics.add()
    metric = scope.metrics.add(name=f"shop.{kind}", unit="s")
    if kind == "histogram":
        point = metric.histogram.data_points.add(
            time_unix_nano=now_ns, count=3, sum=1.5, explicit_bounds=[0.1, 1.0], bucket_counts=[1, 1, 1]
        )
        metric.histogram.aggregation_temporality = 1
    elif kind == "sum":
        metric.sum.aggregation_temporality, metric.sum.is_monotonic = 1, True
        point = metric.sum.data_points.add(time_unix_nano=now_ns, as_int=3)
    else:
        point = metric.gauge.data_points.add(time_unix_nano=now_ns, as_double=0.5)
    point.attributes.append(KeyValue(key="route", value={"string_value": "/checkout"}))
    first = point.exemplars.add(
        time_unix_nano=exemplar_ns, trace_id=bytes.fromhex(TRACE), span_id=bytes.fromhex(SPAN), **exemplar
    )
    first.filtered_attributes.append(KeyValue(key="user.id", value={"int_value": 42}))
    point.exemplars.add(as_int=7)  # no time, no span: shown at its point's time
    return request


def test_exemplars_of_sums_gauges_and_histograms_are_read_back_with_their_trace(org_a):
    now_ns = time.time_ns()
    exemplar_ns = now_ns - 2_000_000_000
    for kind, agg in (("histogram", "p95"), ("sum", "rate"), ("gauge", "avg")):
        request = export(kind, now_ns, exemplar_ns, as_double=1.25)
        response = post("/v1/metrics", request.SerializeToString(), org_a.ingest_key, content_type=PROTOBUF)
        assert response.status_code == 200, response.content

        answer = query(
            Client(),
            org_a.project.id,
            org_a.read_key,
            name=f"shop.{kind}",
            agg=agg,
            start="-1h",
            group_by="route",
        )

        assert answer.status_code == 200, answer.content
        assert answer.json()["exemplars"] == [
            {
                "time": exemplar_ns / 1e9,
                "value": 1.25,
                "trace_id": TRACE,
                "span_id": SPAN,
                "attributes": {"user.id": 42},
                "labels": {"route": "/checkout"},
            },
            {
                "time": now_ns // 1000 / 1e6,  # the point's time, stored to the microsecond
                "value": 7.0,
                "trace_id": None,
                "span_id": None,
                "attributes": {},
                "labels": {"route": "/checkout"},
            },
        ], kind


def test_exemplars_in_otlp_json_carry_hex_ids(org_a):
    now_ns = time.time_ns()
    point = {
        "timeUnixNano": str(now_ns),
        "asDouble": 3,
        "exemplars": [{"timeUnixNano": str(now_ns), "asDouble": 0.3, "traceId": TRACE, "spanId": SPAN}],
    }
    payload = {
        "resourceMetrics": [
            {"scopeMetrics": [{"metrics": [{"name": "queue.depth", "gauge": {"dataPoints": [point]}}]}]}
        ]
    }
    response = post("/v1/metrics", orjson.dumps(payload), org_a.ingest_key)
    assert response.status_code == 200, response.content

    [mark] = query(Client(), org_a.project.id, org_a.read_key, name="queue.depth", start="-1h").json()[
        "exemplars"
    ]

    assert (mark["trace_id"], mark["span_id"], mark["value"]) == (TRACE, SPAN, 0.3)


def test_an_exemplar_with_a_malformed_span_id_rejects_its_point_with_the_reason(org_a):
    now_ns = time.time_ns()
    request = export("gauge", now_ns, now_ns, as_double=1.0)
    request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].exemplars[
        0
    ].span_id = b"\x01\x02"

    response = post("/v1/metrics", request.SerializeToString(), org_a.ingest_key, content_type=PROTOBUF)

    assert response.status_code == 200
    answer = ExportMetricsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_data_points == 1
    assert "exemplar span_id must be 8 bytes" in answer.partial_success.error_message


def test_a_chart_without_exemplars_answers_an_empty_list(org_a):
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="plain.gauge")
    metric.gauge.data_points.add(time_unix_nano=time.time_ns(), as_double=1.0)
    post("/v1/metrics", request.SerializeToString(), org_a.ingest_key, content_type=PROTOBUF)

    answer = query(Client(), org_a.project.id, org_a.read_key, name="plain.gauge", start="-1h")

    assert answer.json()["exemplars"] == []
