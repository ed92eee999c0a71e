"""Helpers for log read tests: logs go in through the real ingest endpoint, come out through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from apps.storage import partitions

INGEST_URL = "/api/v1/ingest/logs"


@pytest.fixture(autouse=True)
def _fresh_partition_memory():
    # Test databases are rebuilt per run: a process-local "partition exists" memory must not survive.
    partitions.forget_partitions()
    yield


def at(minutes_ago: float, now: datetime | None = None) -> str:
    return ((now or datetime.now(UTC)) - timedelta(minutes=minutes_ago)).isoformat()


def logs_url(project_id: int, suffix: str = "") -> str:
    return f"/api/v1/projects/{project_id}/logs{suffix}"


def read(client: Client, url: str, key: str | None = None, **params: Any) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return client.get(url, {k: v for k, v in params.items() if v is not None}, **headers)


@pytest.fixture
def committed_logs_cleanup(transactional_db):
    """Transactional tests commit log rows and the count watermark, which Django's flush does not
    know about (they are not models): put them back so later tests start from scratch."""
    yield
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM logs_event")
        cursor.execute("DELETE FROM logs_count_1m")
        cursor.execute("DELETE FROM logs_count_stale")
        cursor.execute("UPDATE logs_count_watermark SET counted_until = NULL")


# The real uvicorn server of the ingestion tests, for round trips from the stock OTel SDK.
from tests.ingestion.conftest import vigil_server  # noqa: E402, F401
