"""Helpers for error-tracking tests: a project's DSN, events built like the Python SDK's."""

from __future__ import annotations

from typing import Any

import pytest

from apps.errors.dsn import dsn_key_create
from apps.errors.models import DsnKey


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
