"""The README's copy-paste ingestion examples, run as written against a real server."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ingestion.conftest import count, fetch, logs_of, spans_of

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
README_URL = "http://127.0.0.1:8000"
README_GRPC_URL = "http://127.0.0.1:4317"
# What a user's app does with the OpenTelemetry API only; `opentelemetry-instrument` does the rest.
INSTRUMENTED_APP = """
import logging
from opentelemetry import metrics, trace

orders = metrics.get_meter("checkout").create_counter("orders")
with trace.get_tracer("checkout").start_as_current_span("charge card"):
    logging.getLogger("checkout").error("payment failed", extra={"order_id": 42})
    orders.add(3, {"shop": "eu"})
"""


def code_blocks(language: str, containing: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)
    return [block for block in blocks if containing in block]


def test_the_readme_curl_examples_store_a_log_and_a_metric(vigil_server, org_a):
    (script,) = code_blocks("sh", "/api/v1/ingest/")
    env = {**os.environ, "VIGIL_INGEST_KEY": org_a.ingest_key}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace(README_URL, vigil_server.url)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in re.findall(r"\{.*?\}", done.stdout)]
    assert [answer["accepted"] for answer in answers] == [1, 1], done.stdout
    assert [row["message"] for row in logs_of(org_a.project.id)] == ["payment failed"]
    assert count("metrics_point", org_a.project.id) == 1


def test_the_readme_python_sdk_example_stores_a_log_inside_a_span(vigil_server, org_a):
    (exports,) = code_blocks("sh", f"OTEL_EXPORTER_OTLP_ENDPOINT={README_URL}")
    (program,) = code_blocks("python", "OTLPLogExporter")
    env = dict(os.environ)
    for name, value in re.findall(r'export (\w+)="?([^"\n]*)"?', exports):
        env[name] = value.replace("${VIGIL_INGEST_KEY}", org_a.ingest_key).replace(
            README_URL, vigil_server.url
        )
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (log,) = logs_of(org_a.project.id)
    (span,) = spans_of(org_a.project.id)
    assert (log["message"], log["service"], log["attributes"]["order_id"]) == (
        "payment failed",
        "checkout",
        42,
    )
    assert (log["trace_id"], log["span_id"]) == (span["trace_id"], span["span_id"])


def test_the_readme_grpc_recipe_delivers_with_opentelemetry_instrument_defaults(
    vigil_grpc_server, org_a, tmp_path
):
    (script,) = code_blocks("sh", "opentelemetry-instrument")
    (tmp_path / "app.py").write_text(INSTRUMENTED_APP)
    # No OTEL_* from the test run's own environment: only what the README sets, the rest default.
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    env.update(VIGIL_INGEST_KEY=org_a.ingest_key, PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace(README_GRPC_URL, vigil_grpc_server.url)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Failed to export" not in done.stderr, done.stderr
    (log,) = logs_of(org_a.project.id)
    (span,) = spans_of(org_a.project.id)
    assert (log["message"], log["service"], log["level"], log["attributes"]["order_id"]) == (
        "payment failed",
        "checkout",
        17,
        42,
    )
    assert (log["trace_id"], log["span_id"]) == (span["trace_id"], span["span_id"])
    assert (span["name"], span["service"]) == ("charge card", "checkout")
    (point,) = fetch(
        "SELECT p.value, s.labels FROM metrics_point p JOIN metrics_series s ON s.id = p.series_id"
        " WHERE p.project_id = %s AND s.name = 'orders'",
        [org_a.project.id],
    )
    assert point["value"] == 3 and point["labels"]["shop"] == "eu"
