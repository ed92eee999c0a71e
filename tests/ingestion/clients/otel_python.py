"""Run by test_real_clients.py in a subprocess, configured only by OTEL_* environment variables,
exactly as a user's service would be. Usage: otel_python.py proto|json|grpc RUN_ID

Sends logs through the stdlib logging bridge, a counter, a gauge, a histogram and nested spans,
then prints (as JSON) what the SDK handed to the exporters, captured by in-memory twins.
"""

from __future__ import annotations

import json
import logging
import sys

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

mode, run_id = sys.argv[1], sys.argv[2]
if mode == "proto":
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
elif mode == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
else:
    from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter

resource = Resource.create({"service.name": f"otel-python-{mode}", "run.id": run_id})

spans_sent = InMemorySpanExporter()
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
tracer_provider.add_span_processor(SimpleSpanProcessor(spans_sent))

logs_sent = InMemoryLogExporter()
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter()))
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs_sent))
logger = logging.getLogger("shop.checkout")
logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))
logger.setLevel(logging.INFO)
logger.propagate = False

reader = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=3_600_000)
meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = meter_provider.get_meter("shop.metrics")

tracer = tracer_provider.get_tracer("shop.tracer")
with tracer.start_as_current_span("checkout", attributes={"cart.items": 3}) as parent:
    with tracer.start_as_current_span("charge-card", attributes={"amount": 12.5, "currency": "EUR"}):
        logger.warning("payment declined for order %s", 42, extra={"order_id": 42, "reason": "insufficient"})
    parent.add_event("retry", {"attempt": 2})
logger.info("no span here")

counter = meter.create_counter("orders", unit="1")
counter.add(5, {"shop": "eu"})
counter.add(2, {"shop": "eu"})
meter.create_gauge("queue.depth").set(21.5, {"queue": "mail"})
histogram = meter.create_histogram("latency", unit="s")
for value in (0.3, 4.0, 12.0):
    histogram.record(value, {"route": "/pay"})
meter_provider.force_flush()
counter.add(1, {"shop": "eu"})  # cumulative: the second export carries 8, not 8 + 7
meter_provider.force_flush()

tracer_provider.shutdown()
logger_provider.shutdown()
meter_provider.shutdown()

print(
    json.dumps(
        {
            "spans": [
                {
                    "name": s.name,
                    "trace_id": f"{s.context.trace_id:032x}",
                    "span_id": f"{s.context.span_id:016x}",
                    "parent": f"{s.parent.span_id:016x}" if s.parent else None,
                    "start": s.start_time,
                    "end": s.end_time,
                    "attributes": dict(s.attributes),
                    "kind": s.kind.value,
                }
                for s in spans_sent.get_finished_spans()
            ],
            "logs": [
                {
                    "message": r.log_record.body,
                    "time": r.log_record.timestamp,
                    "severity": r.log_record.severity_number.value,
                    "trace_id": f"{r.log_record.trace_id:032x}" if r.log_record.trace_id else None,
                    "span_id": f"{r.log_record.span_id:016x}" if r.log_record.span_id else None,
                    "flags": int(r.log_record.trace_flags or 0),
                    "attributes": dict(r.log_record.attributes or {}),
                }
                for r in logs_sent.get_finished_logs()
            ],
        }
    )
)
