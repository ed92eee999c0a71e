"""Helpers for error-tracking tests: a project's DSN, events built like the Python SDK's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from apps.audit import Actor
from apps.errors import hashmap, symbol_cache
from apps.errors.dsn import dsn_key_create
from apps.errors.grouper import sweep
from apps.errors.models import DsnKey
from apps.projects.services import api_key_create
from apps.storage import partitions
from tests.conftest import missing_tool


@pytest.fixture(autouse=True)
def _fresh_partition_memory():
    # A test's rolled-back transaction takes its day partitions with it.
    partitions.forget_partitions()
    yield
    partitions.forget_partitions()


@pytest.fixture(autouse=True)
def _no_issues_remembered():
    # A rolled-back test takes its issues with it: the process's hash map must not keep them.
    hashmap.forget()
    yield
    hashmap.forget()


@pytest.fixture(autouse=True)
def _no_source_maps_remembered():
    # Each test's uploads are its own: a process-local cache must not carry them over.
    symbol_cache.forget()
    yield
    symbol_cache.forget()


@pytest.fixture(autouse=True)
def _no_events_left_behind(request, django_db_blocker):
    """errors_event and its dedup keys are not Django-managed tables, so the flush after a
    transactional test leaves their rows: clear them, as the flush clears everything else."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        from django.db import connection

        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("TRUNCATE errors_event, errors_eventid")


def grouped() -> None:
    """What the grouper of a web process does within a second of the answer (apps.errors.grouper):
    tests that call the endpoint's handler in their own transaction run it themselves."""
    sweep()


def wait_until(condition, timeout: float = 15.0):
    """Poll `condition()` until it returns something truthy (a live server groups in the
    background); returns that value, or fails after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            assert value, "condition not met in time"
            return value
        time.sleep(0.05)


@pytest.fixture(scope="session")
def vigil_server(django_db_setup, django_db_blocker):
    from tests.ingestion.server import Server

    server = Server()
    yield server
    server.stop()


@pytest.fixture
def dsn_key(org_a) -> DsnKey:
    return dsn_key_create(org_a.project, "test", created_by=org_a.owner)


def frame(module: str, function: str, line: str, lineno: int = 10, in_app: bool = True) -> dict[str, Any]:
    return {
        "module": module,
        "function": function,
        "context_line": line,
        "lineno": lineno,
        "colno": 4,
        "in_app": in_app,
        "filename": module.replace(".", "/") + ".py",
    }


def exception_event(kind: str, value: str, frames: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "level": "error",
        "platform": "python",
        "exception": {"values": [{"type": kind, "value": value, "stacktrace": {"frames": frames}}]},
        **extra,
    }


# The real @sentry/node (and terser) from npm, installed by `make test-deps` or here.
CLIENT_DIR = Path(__file__).parent / "clients" / "sentry-node"


@pytest.fixture(scope="session")
def sentry_node() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing_tool("node/npm not installed: the @sentry/node test needs Node 20+ and npm")
    modules = CLIENT_DIR / "node_modules"
    if not ((modules / "@sentry" / "node").exists() and (modules / "terser").exists()):
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=CLIENT_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            missing_tool(f"npm could not install @sentry/node (registry unreachable?): {done.stderr[-500:]}")
    return CLIENT_DIR / "client.cjs"


@pytest.fixture
def manage_key(org_a) -> str:
    """A manage key of org A's project: what sentry-cli uploads source maps with."""
    _, secret = api_key_create(org_a.project, "manage", "sentry-cli", by=Actor(user=org_a.owner))
    return secret
