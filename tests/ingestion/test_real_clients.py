"""The stock OpenTelemetry Python SDK exporters, configured only by OTEL_* variables, against a
real uvicorn server: what lands in PostgreSQL is exactly what the SDK sent."""

import importlib.util
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import missing_tool
from tests.ingestion.conftest import fetch, logs_of, spans_of

pytestmark = pytest.mark.django_db(transaction=True)
CLIENT = Path(__file__).parent / "clients" / "otel_python.py"


def run_client(
    mode: str, server_url: str, headers: str, extra_env: dict[str, str] | None = None
) -> tuple[str, dict]:
    if mode == "json" and importlib.util.find_spec("opentelemetry.exporter.otlp.json") is None:
        # `make test` installs it (see the Makefile: its pre-release pins clash with the proto
        # exporter's in one resolver run, so it cannot live in pyproject); only a bare pytest in
        # a venv set up by hand can lack it.
        missing_tool("opentelemetry-exporter-otlp-json-http is not installed")
    run_id = uuid.uuid4().hex
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": server_url,
        "OTEL_EXPORTER_OTLP_HEADERS": headers,
        "OTEL_METRIC_EXPORT_INTERVAL": "3600000",
        **(extra_env or {}),
    }
    done = subprocess.run(
        [sys.executable, str(CLIENT), mode, run_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Failed to export" not in done.stderr, done.stderr
    return run_id, json.loads(done.stdout)


def micros(ns: int) -> int:
    return ns // 1000


def assert_logs_match(project_id: int, sent: dict) -> None:
    stored = {row["message"]: row for row in logs_of(project_id)}
    assert set(stored) == {log["message"] for log in sent["logs"]}
    for log in sent["logs"]:
        row = stored[log["message"]]
        assert int(row["ts"].timestamp() * 1_000_000) == micros(log["time"])
        assert (row["level"], row["trace_id"], row["span_id"]) == (
            log["severity"],
            log["trace_id"],
            log["span_id"],
        )
        assert row["attributes"] == {**log["attributes"], "otel.scope.name": "shop.checkout", **flags_of(log)}


def flags_of(log: dict) -> dict:
    """The trace flags the SDK put on a record logged inside a sampled span, kept as an attribute."""
    return {"otel.flags": log["flags"]} if log["flags"] else {}


def assert_spans_match(project_id: int, sent: dict) -> None:
    stored = {row["span_id"]: row for row in spans_of(project_id)}
    assert len(stored) == 2
    for span in sent["spans"]:
        row = stored[span["span_id"]]
        assert (row["name"], row["trace_id"], row["parent_span_id"]) == (
            span["name"],
            span["trace_id"],
            span["parent"],
        )
        assert row["duration_ns"] == span["end"] - span["start"]
        assert int(row["start_ts"].timestamp() * 1_000_000) == micros(span["start"])
        assert {k: v for k, v in row["attributes"].items() if k != "otel.scope.name"} == span["attributes"]
    checkout = next(row for row in stored.values() if row["name"] == "checkout")
    assert checkout["events"][0]["name"] == "retry" and checkout["events"][0]["attributes"] == {"attempt": 2}


def assert_metrics_match(project_id: int, run_id: str) -> None:
    rows = fetch(
        "SELECT s.name, s.type, s.temporality, s.is_monotonic, s.labels, p.* FROM metrics_point p"
        " JOIN metrics_series s ON s.id = p.series_id WHERE p.project_id = %s ORDER BY p.ts",
        [project_id],
    )
    by_name: dict[str, list] = {}
    for row in rows:
        by_name.setdefault(row["name"], []).append(row)
    orders = by_name["orders"]
    # Cumulative totals are stored as exported (7, then 8 at the flush and again at shutdown),
    # never summed across exports.
    values = [row["value"] for row in orders]
    assert values[0] == 7.0 and set(values[1:]) == {8.0}
    assert (orders[0]["type"], orders[0]["temporality"], orders[0]["is_monotonic"]) == ("sum", 2, True)
    assert orders[0]["labels"]["shop"] == "eu" and orders[0]["labels"]["run.id"] == run_id
    assert {row["value"] for row in by_name["queue.depth"]} == {21.5}
    latency = by_name["latency"][0]
    assert (latency["count"], latency["sum"], latency["min"], latency["max"]) == (3, 16.3, 0.3, 12.0)
    assert sum(latency["bucket_counts"]) == 3 and len(latency["bucket_counts"]) == len(latency["bounds"]) + 1


@pytest.mark.parametrize(
    ("mode", "header"), [("proto", "authorization=Bearer%20{key}"), ("json", "x-api-key={key}")]
)
def test_the_python_sdk_exports_logs_metrics_and_spans_that_are_stored_exactly(
    vigil_server, org_a, mode, header
):
    run_id, sent = run_client(mode, vigil_server.url, header.format(key=org_a.ingest_key))
    assert len(sent["logs"]) == 2 and len(sent["spans"]) == 2
    assert_logs_match(org_a.project.id, sent)
    assert_spans_match(org_a.project.id, sent)
    assert_metrics_match(org_a.project.id, run_id)
