"""NDJSON from the real pino, bunyan and winston (npm, installed at test time into a gitignored
node_modules), posted unchanged to the native endpoint: level, time, service, message, extras and
stack traces read back."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import missing_tool
from tests.ingestion.conftest import logs_of
from tests.telemetry import post

LOGGERS_DIR = Path(__file__).parent / "clients" / "jslogs"
URL = "/api/v1/ingest/logs"


@pytest.fixture(scope="session")
def js_loggers() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing_tool("node/npm not installed: the JavaScript logger tests need Node 18+ and npm")
    if not (LOGGERS_DIR / "node_modules" / "winston").exists():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=LOGGERS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            missing_tool(f"npm could not install pino, bunyan and winston: {done.stderr[-500:]}")
    return LOGGERS_DIR / "loggers.cjs"


def lines_of(script: Path, logger: str) -> str:
    done = subprocess.run(["node", str(script), logger], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def sent_time(line: dict) -> datetime:
    stamp = line.get("time", line.get("timestamp"))
    if isinstance(stamp, int):
        return datetime.fromtimestamp(stamp / 1000, UTC)
    return datetime.fromisoformat(stamp)


@pytest.mark.parametrize(
    ("logger", "service", "declined_extras", "error_message"),
    [
        ("pino", "", {"host.name", "process.pid"}, "charge failed"),
        ("bunyan", "shop", {"host.name", "process.pid", "v"}, "charge failed"),
        ("winston", "shop", set(), "amount must be positive"),
    ],
)
def test_js_logger_lines_keep_level_time_service_extras_and_stack(
    org_a, js_loggers, logger, service, declined_extras, error_message
):
    body = lines_of(js_loggers, logger)
    sent = [json.loads(line) for line in body.splitlines()]

    response = post(URL, body, org_a.ingest_key, content_type="application/x-ndjson")

    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 3, "rejected": 0, "errors": [], "warnings": []}
    stored = {row["message"]: row for row in logs_of(org_a.project.id)}
    assert set(stored) == {"card declined", error_message, "slow query"}
    declined, failed, slow = stored["card declined"], stored[error_message], stored["slow query"]
    assert [row["ts"] for row in (declined, failed, slow)] == [sent_time(line) for line in sent]
    assert (declined["level"], failed["level"]) == (13, 17)
    assert slow["level"] in (5, 6)  # debug (pino, bunyan) or winston's verbose, just above it
    assert {row["service"] for row in stored.values()} == {service}
    assert declined["attributes"].items() >= {"orderId": 42, "customer": {"tier": "gold"}}.items()
    assert set(declined["attributes"]) - {"orderId", "customer"} == declined_extras
    assert slow["attributes"]["module"] == "db"
    assert failed["attributes"]["exception.type"] == "TypeError"
    assert failed["attributes"]["exception.message"] == "amount must be positive"
    assert failed["attributes"]["exception.stacktrace"].startswith(
        "TypeError: amount must be positive\n    at "
    )
