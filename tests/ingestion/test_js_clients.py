"""The stock OpenTelemetry JavaScript exporters (installed with npm at test time into a gitignored
node_modules) deliver logs, metrics and spans to a real server, in OTLP/JSON, protobuf and gRPC."""

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import missing_tool
from tests.ingestion.conftest import count, fetch, logs_of, spans_of

pytestmark = pytest.mark.django_db(transaction=True)
CLIENT_DIR = Path(__file__).parent / "clients" / "js"


@pytest.fixture(scope="session")
def js_client() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing_tool("node/npm not installed: the OTel JS exporter test needs Node 18+ and npm")
    if not (CLIENT_DIR / "node_modules" / "@opentelemetry" / "exporter-trace-otlp-grpc").exists():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=CLIENT_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            missing_tool(
                f"npm could not install the OTel JS packages (registry unreachable?): {done.stderr[-500:]}"
            )
    return CLIENT_DIR / "client.cjs"


@pytest.mark.parametrize(
    ("mode", "headers", "compression"),
    [
        ("http", "x-api-key={key}", "none"),
        ("proto", "authorization=Bearer%20{key}", "gzip"),
    ],
)
def test_the_js_exporters_deliver_logs_metrics_and_spans(
    vigil_server, org_a, js_client, mode, headers, compression
):
    assert_js_client_delivers(vigil_server.url, org_a, js_client, mode, headers, compression)


@pytest.mark.parametrize(
    ("headers", "compression"), [("authorization=Bearer%20{key}", "none"), ("x-api-key={key}", "gzip")]
)
def test_the_js_grpc_exporters_deliver_logs_metrics_and_spans(
    vigil_grpc_server, org_a, js_client, headers, compression
):
    assert_js_client_delivers(vigil_grpc_server.url, org_a, js_client, "grpc", headers, compression)


def assert_js_client_delivers(
    url: str, org_a, js_client: Path, mode: str, headers: str, compression: str
) -> None:
    run_id = uuid.uuid4().hex
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": url,
        "OTEL_EXPORTER_OTLP_HEADERS": headers.format(key=org_a.ingest_key),
        "OTEL_EXPORTER_OTLP_COMPRESSION": compression,
    }
    done = subprocess.run(
        ["node", str(js_client), mode, run_id], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    sent = json.loads(done.stdout.strip().splitlines()[-1])
    assert sent["failures"] == []
    stored_logs = logs_of(org_a.project.id)
    assert sorted(row["message"] for row in stored_logs) == sorted(sent["logs"])
    assert {(row["trace_id"], row["span_id"]) for row in stored_logs} == {(sent["trace_id"], sent["child"])}
    assert {row["span_id"]: row["name"] for row in spans_of(org_a.project.id)} == sent["spans"]
    assert all(row["trace_id"] == sent["trace_id"] for row in spans_of(org_a.project.id))
    orders = fetch(
        "SELECT p.value, s.labels FROM metrics_point p JOIN metrics_series s ON s.id = p.series_id"
        " WHERE p.project_id = %s AND s.name = 'js.orders'",
        [org_a.project.id],
    )
    assert orders and {row["value"] for row in orders} == {3.0}
    assert orders[0]["labels"]["run.id"] == run_id


def test_a_chunked_body_without_content_length_is_read_whole(vigil_server, org_a):
    records = orjson.dumps([{"message": f"chunk {i}"} for i in range(300)])

    def pieces():
        for start in range(0, len(records), 1000):
            yield records[start : start + 1000]

    response = httpx.post(
        f"{vigil_server.url}/api/v1/ingest/logs",
        content=pieces(),
        timeout=30,
        headers={"authorization": f"Bearer {org_a.ingest_key}", "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert count("logs_event", org_a.project.id) == 300


def test_a_chunked_body_over_the_cap_is_refused(vigil_server, org_a):
    def endless():
        for _ in range(6 * 1024):
            yield b" " * 1024

    response = httpx.post(
        f"{vigil_server.url}/api/v1/ingest/logs",
        content=endless(),
        timeout=30,
        headers={"authorization": f"Bearer {org_a.ingest_key}", "content-type": "application/json"},
    )
    assert response.status_code == 413
