# Two commands on a fresh machine: `make run` and `make test`. Everything else is a detail.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHROMIUM_PATH ?= /usr/bin/chromium
PYTEST_ARGS ?=

.PHONY: run test test-deps lint fmt bench bench-ingest bench-query bench-query-logs bench-query-metrics bench-query-traces bench-live bench-overview bench-chaos bench-alerts bench-notify bench-errors bench-metering clean-var

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Vigil needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,local]'
	# Test-only: the OTLP/JSON Python exporter pins pre-release helpers one build older than the
	# proto exporter's; no resolver run can hold both, and it works with the newer ones.
	$(PY) -m pip install --quiet --no-deps opentelemetry-exporter-otlp-json-http==0.66b1 \
		opentelemetry-exporter-otlp-json-common==0.66b1 opentelemetry-proto-json==0.66b1
	touch $@

# Front-end libraries (uPlot) from the npm registry, checked against pinned sha512 (config/assets.py).
ASSETS := static/vendor/.installed
$(ASSETS): config/assets.py $(VENV)/.installed
	$(PY) -m config.assets
	touch $@

run: $(VENV)/.installed $(ASSETS)
	$(PY) -m config.devstack run

# Test-only clients from the npm registry (the stock OTel JavaScript exporters), installed once
# from their lock file. Without npm the tests that need them say so (and fail in CI).
JS_CLIENTS := tests/ingestion/clients/js/node_modules/.installed
$(JS_CLIENTS): tests/ingestion/clients/js/package-lock.json
	@if command -v npm >/dev/null; then \
		cd tests/ingestion/clients/js && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "[vigil] npm not found: the JavaScript exporter tests will be skipped"; fi

# Real pino, bunyan and winston write the NDJSON of the JSON-logs mapping tests.
JS_LOGGERS := tests/ingestion/clients/jslogs/node_modules/.installed
$(JS_LOGGERS): tests/ingestion/clients/jslogs/package-lock.json
	@if command -v npm >/dev/null; then \
		cd tests/ingestion/clients/jslogs && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "[vigil] npm not found: the JavaScript logger tests will be skipped"; fi

# The real @sentry/node SDK: chunked (and, over 32 KiB, gzipped) envelopes to the Sentry endpoint.
SENTRY_NODE := tests/errors/clients/sentry-node/node_modules/.installed
$(SENTRY_NODE): tests/errors/clients/sentry-node/package-lock.json
	@if command -v npm >/dev/null; then \
		cd tests/errors/clients/sentry-node && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "[vigil] npm not found: the @sentry/node test will be skipped"; fi

# Everything `make test` fetches from the network; CI runs it first, then the tests without a network.
test-deps: $(VENV)/.installed $(ASSETS) $(JS_CLIENTS) $(JS_LOGGERS) $(SENTRY_NODE)

# Browser tests use Debian's Chromium when present (CI installs it); elsewhere Playwright's own build.
test: test-deps
	@test -x $(CHROMIUM_PATH) || $(VENV)/bin/playwright install chromium >/dev/null 2>&1 || \
		echo "[vigil] no Chromium at $(CHROMIUM_PATH) and none downloadable: browser tests will be skipped"
	$(PY) -m config.devstack test $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy apps config

fmt: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-var:
	rm -rf var

# Every benchmark, then BENCHMARKS.md from their results (bench/*_RESULTS.md).
bench: bench-ingest bench-query bench-live bench-overview bench-chaos bench-alerts bench-notify bench-errors
	$(PY) bench/assemble.py

# The load generator is wrk (a Debian package): low overhead, so the client does not eat the cores.
bench-ingest: $(VENV)/.installed
	@command -v wrk >/dev/null || { echo "[vigil] installing Debian's wrk"; apt-get install -y -qq wrk; }
	$(PY) bench/ingest.py

# The metering's own worker CPU per ingestion request (also a section of bench-ingest's results).
bench-metering: $(VENV)/.installed
	$(PY) bench/metering.py

# Sentry events through the envelope endpoint into grouped issues (closed loop driven by wrk).
bench-errors: $(VENV)/.installed
	@command -v wrk >/dev/null || { echo "[vigil] installing Debian's wrk"; apt-get install -y -qq wrk; }
	$(PY) bench/errors.py $(ARGS)

# The query benchmark: logs (10 M rows) and metrics (50 M points), each on its own database, and
# a trace by id (on the overview benchmark's database, loaded when missing).
bench-query: bench-query-logs bench-query-metrics bench-query-traces

bench-query-logs: $(VENV)/.installed
	$(PY) bench/query_logs.py

bench-query-metrics: $(VENV)/.installed
	$(PY) bench/query_metrics.py

bench-query-traces: $(VENV)/.installed
	$(PY) bench/query_traces.py

# Faults under steady ingestion (web worker kill, PostgreSQL and Redis restarts, Celery worker kill):
# acknowledged vs stored records, errors and recovery times. `ARGS="--seconds 30"` for a quick run.
bench-chaos: $(VENV)/.installed
	$(PY) bench/chaos.py $(ARGS)

# 200 WebSocket subscribers over 20 projects while logs arrive at 5,000 events/s.
bench-live: $(VENV)/.installed
	$(PY) bench/live_fanout.py

# Server time of the project overview's page load on the query benchmark's 10 M log rows.
bench-overview: $(VENV)/.installed
	$(PY) bench/overview_page.py

# The alert evaluator under 10,000 policies on 1,000 projects (bench/alerts.py; its own database).
bench-alerts: $(VENV)/.installed
	$(PY) bench/alerts.py

# Notification sender: messages/s against a local receiver answering in 50 ms, and none lost or
# re-sent under another id while a sender process is SIGKILLed every 10 s.
bench-notify: $(VENV)/.installed
	$(PY) bench/notify_sender.py
