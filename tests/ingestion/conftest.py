"""Helpers for ingestion tests: posting with a key, reading stored rows back with SQL."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.db import connection

from apps.dashboards import live
from apps.ingestion import logshapes, redaction
from apps.metrics.storage import forget_series
from apps.storage import partitions


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    # Process-local caches must not leak rows or settings between tests (ids are never reused,
    # but partitions may be dropped and redaction settings change).
    partitions.forget_partitions()
    redaction.forget_settings()
    logshapes.forget_time_zones()
    forget_series()
    live.reset()
    yield


JSONB_COLUMNS = {"attributes", "resource", "events", "links", "labels"}


def fetch(sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    # Django's connection hands jsonb back as text; tests compare Python values.
    for row in rows:
        for name in JSONB_COLUMNS.intersection(row):
            if isinstance(row[name], str):
                row[name] = orjson.loads(row[name])
    return rows


def logs_of(project_id: int) -> list[dict[str, Any]]:
    return fetch("SELECT * FROM logs_event WHERE project_id = %s ORDER BY ts, message", [project_id])


def spans_of(project_id: int) -> list[dict[str, Any]]:
    return fetch("SELECT * FROM traces_span WHERE project_id = %s ORDER BY start_ts, span_id", [project_id])


def points_of(project_id: int) -> list[dict[str, Any]]:
    return fetch(
        "SELECT s.name, s.type, s.unit, s.temporality, s.is_monotonic, s.labels, p.* FROM metrics_point p"
        " JOIN metrics_series s ON s.id = p.series_id WHERE p.project_id = %s ORDER BY s.name, p.ts",
        [project_id],
    )


def count(table: str, project_id: int) -> int:
    return fetch(f"SELECT count(*) AS n FROM {table} WHERE project_id = %s", [project_id])[0]["n"]


@pytest.fixture(scope="session")
def vigil_server(django_db_setup, django_db_blocker):
    from tests.ingestion.server import Server

    server = Server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vigil_grpc_server(django_db_setup, django_db_blocker):
    from tests.ingestion.server import GrpcServer

    server = GrpcServer()
    yield server
    server.stop()


def post_json_to(base_url: str, path: str, payload: Any, key: str) -> Any:
    import httpx

    response = httpx.post(
        base_url + path,
        content=orjson.dumps(payload),
        timeout=30,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    return response
