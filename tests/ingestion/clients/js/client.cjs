// Run by tests/ingestion/test_js_clients.py: the stock OTel JS exporters, configured only by
// OTEL_* environment variables. Usage: node client.cjs http|proto|grpc RUN_ID
// Prints the ids it used as JSON so the test can compare with what was stored.
const { trace, context } = require("@opentelemetry/api");
const { resourceFromAttributes } = require("@opentelemetry/resources");
const { BasicTracerProvider, SimpleSpanProcessor } = require("@opentelemetry/sdk-trace-base");
const { LoggerProvider, BatchLogRecordProcessor } = require("@opentelemetry/sdk-logs");
const { MeterProvider, PeriodicExportingMetricReader } = require("@opentelemetry/sdk-metrics");

const [mode, runId] = process.argv.slice(2);
const flavour = { proto: "proto", grpc: "grpc" }[mode] || "http";
const { OTLPTraceExporter } = require(`@opentelemetry/exporter-trace-otlp-${flavour}`);
const { OTLPLogExporter } = require(`@opentelemetry/exporter-logs-otlp-${flavour}`);
const { OTLPMetricExporter } = require(`@opentelemetry/exporter-metrics-otlp-${flavour}`);

async function main() {
  const resource = resourceFromAttributes({ "service.name": `otel-js-${mode}`, "run.id": runId });
  const failures = [];
  const checked = (exporter) => {
    const original = exporter.export.bind(exporter);
    exporter.export = (items, done) => original(items, (result) => {
      if (result.code !== 0) failures.push(String(result.error));
      done(result);
    });
    return exporter;
  };

  const tracerProvider = new BasicTracerProvider({
    resource, spanProcessors: [new SimpleSpanProcessor(checked(new OTLPTraceExporter()))],
  });
  const tracer = tracerProvider.getTracer("js.tracer");
  const parent = tracer.startSpan("js-parent", { attributes: { "cart.items": 2 } });
  const child = tracer.startSpan("js-child", { attributes: { step: "charge" } }, trace.setSpan(context.active(), parent));

  const loggerProvider = new LoggerProvider({
    resource, processors: [new BatchLogRecordProcessor({ exporter: checked(new OTLPLogExporter()) })],
  });
  const logger = loggerProvider.getLogger("js.logger");
  const logs = [];
  for (let i = 0; i < 50; i++) {
    const message = `js log ${i} ${"x".repeat(200)}`;
    logger.emit({ severityNumber: 9, severityText: "INFO", body: message, attributes: { i },
                  context: trace.setSpan(context.active(), child) });
    logs.push(message);
  }
  child.end();
  parent.end();

  const meterProvider = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({ exporter: checked(new OTLPMetricExporter()),
                                                  exportIntervalMillis: 3600000 })],
  });
  const meter = meterProvider.getMeter("js.meter");
  meter.createCounter("js.orders").add(3, { shop: "us" });
  meter.createHistogram("js.latency").record(0.25);

  await tracerProvider.forceFlush();
  await loggerProvider.forceFlush();
  await meterProvider.forceFlush();
  await Promise.all([tracerProvider.shutdown(), loggerProvider.shutdown(), meterProvider.shutdown()]);
  console.log(JSON.stringify({
    failures,
    trace_id: parent.spanContext().traceId,
    spans: { [parent.spanContext().spanId]: "js-parent", [child.spanContext().spanId]: "js-child" },
    child: child.spanContext().spanId,
    logs,
  }));
}

main().catch((error) => { console.error(error); process.exit(1); });
