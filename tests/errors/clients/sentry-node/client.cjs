// Run by tests/errors/test_sentry_node.py: the real @sentry/node SDK, configured only by its DSN.
// Usage: node client.cjs DSN RUN_ID
// Sends one exception event over 32 KiB (the SDK gzips it) and one small message (sent as is),
// both streamed without Content-Length, then prints what went over the wire as JSON.
const http = require("node:http");
const Sentry = require("@sentry/node");

const [dsn, runId] = process.argv.slice(2);
const requests = [];
// The SDK's own transport, watched: record the headers each request really carried.
const httpModule = {
  request(options, callback) {
    const req = http.request(options, (res) => {
      requests.push({
        status: res.statusCode,
        contentLength: req.getHeader("content-length") ?? null,
        contentEncoding: req.getHeader("content-encoding") ?? null,
        chunked: req.chunkedEncoding,
      });
      callback(res);
    });
    return req;
  },
};

function checkout(cart) {
  if (cart.items === 0) throw new TypeError(`cart ${runId} is empty`);
}

async function main() {
  Sentry.init({
    dsn,
    release: "shop-node@2.0.0",
    environment: "test",
    defaultIntegrations: false,
    skipOpenTelemetrySetup: true,
    transportOptions: { httpModule },
  });
  const ids = {};
  try {
    checkout({ items: 0 });
  } catch (error) {
    // 40 KB of context: over the SDK's 32 KiB gzip threshold.
    ids.large = Sentry.captureException(error, { extra: { cart_dump: "x".repeat(40 * 1024) } });
  }
  await Sentry.flush(10000);
  ids.small = Sentry.captureMessage(`small message ${runId}`, "warning");
  const flushed = await Sentry.flush(10000);
  process.stdout.write(JSON.stringify({ ids, requests, flushed }));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack || error));
  process.exit(1);
});
