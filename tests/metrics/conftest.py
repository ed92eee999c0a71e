"""Helpers for metric tests: ingest through the real endpoints, roll up, query through the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from apps.metrics.storage import forget_series
from apps.storage.partitions import forget_partitions

INGEST = "/api/v1/ingest/metrics"


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    # Partition and series-id memories must not outlive the rows of the test that filled them.
    forget_partitions()
    forget_series()
    yield


@pytest.fixture
def committed_metrics():
    """For transactional tests: metric tables are raw SQL, unknown to Django's flush."""
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE metrics_point, metrics_series, metrics_rollup_1m, metrics_rollup_1h,"
            " metrics_rollup_watermark"
        )


def query(client: Client, project_id: int, key: str | None = None, **params: Any) -> Any:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return client.get(f"/api/v1/projects/{project_id}/metrics/query", params, headers=headers)


def points(response: Any, index: int = 0) -> dict[int, float]:
    assert response.status_code == 200, response.content
    return {ts: value for ts, value in response.json()["series"][index]["points"]}


def rollup_rows(table: str, project_id: int) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT series_id, bucket, count, sum, min, max, last, increase, bounds, bucket_counts"
            f" FROM {table} WHERE project_id = %s ORDER BY series_id, bucket",
            [project_id],
        )
        return cursor.fetchall()


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ns(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1_000_000_000))


def otlp_counter(
    name: str, points: list[tuple[datetime, datetime, float]], labels: dict[str, str] | None = None
) -> dict:
    """An OTLP/JSON export of one cumulative monotonic sum: (time, start time, value) points."""
    attributes = [{"key": k, "value": {"stringValue": v}} for k, v in (labels or {}).items()]
    data_points = [
        {"timeUnixNano": ns(ts), "startTimeUnixNano": ns(start), "asDouble": value, "attributes": attributes}
        for ts, start, value in points
    ]
    metric = {
        "name": name,
        "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": data_points},
    }
    return {"resourceMetrics": [{"resource": {"attributes": []}, "scopeMetrics": [{"metrics": [metric]}]}]}


def otlp_histogram(
    name: str, points: list[tuple[datetime, datetime, list[int]]], bounds: list[float]
) -> dict:
    """An OTLP/JSON export of one cumulative histogram: (time, start time, bucket counts) points."""
    data_points = [
        {
            "timeUnixNano": ns(ts),
            "startTimeUnixNano": ns(start),
            "count": str(sum(counts)),
            "explicitBounds": bounds,
            "bucketCounts": [str(c) for c in counts],
        }
        for ts, start, counts in points
    ]
    metric = {"name": name, "histogram": {"aggregationTemporality": 2, "dataPoints": data_points}}
    return {"resourceMetrics": [{"resource": {"attributes": []}, "scopeMetrics": [{"metrics": [metric]}]}]}
