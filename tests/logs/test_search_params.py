"""Times in query strings mean the same on every read API: one parser for logs, traces and metrics."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from tests.logs.conftest import ingest, logs_url, read


def test_a_search_range_may_be_given_in_unix_seconds(org_a, db):
    now = datetime.now(UTC)
    ingest(org_a.ingest_key, [{"message": "inside", "timestamp": (now - timedelta(minutes=5)).isoformat()}])
    start, end = int((now - timedelta(minutes=10)).timestamp()), int(now.timestamp()) + 1

    response = read(Client(), logs_url(org_a.project.pk), org_a.read_key, start=str(start), end=str(end))

    assert response.status_code == 200, response.content
    assert [record["message"] for record in response.json()["records"]] == ["inside"]


@pytest.mark.parametrize(
    "path",
    ["logs", "logs/stats", "traces", "metrics/query?name=cpu"],
    ids=["search", "stats", "traces", "metrics"],
)
def test_a_bad_time_is_the_same_400_on_every_read_api(client, org_a, path):
    separator = "&" if "?" in path else "?"
    response = client.get(
        f"/api/v1/projects/{org_a.project.pk}/{path}{separator}start=yesterday",
        HTTP_AUTHORIZATION=f"Bearer {org_a.read_key}",
    )

    assert response.status_code == 400
    assert "start must be ISO 8601 (2026-01-31T12:00:00Z), Unix seconds" in response.content.decode()
