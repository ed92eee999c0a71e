// Run by tests/errors/test_sourcemaps.py: @sentry/node reporting an error thrown inside a
// minified bundle (built by terser with a source map). Usage: node run_bundle.cjs DSN RELEASE BUNDLE
const Sentry = require("@sentry/node");

const [dsn, release, bundle] = process.argv.slice(2);

async function main() {
  // An empty release: none (debug-id symbolication needs no release).
  Sentry.init({ dsn, release: release || undefined, defaultIntegrations: false, skipOpenTelemetrySetup: true });
  const { run } = require(bundle);
  try {
    run({ items: 0 });
  } catch (error) {
    process.stdout.write(JSON.stringify({ id: Sentry.captureException(error), stack: error.stack }));
  }
  await Sentry.flush(10000);
}

main().catch((error) => {
  process.stderr.write(String((error && error.stack) || error));
  process.exit(1);
});
