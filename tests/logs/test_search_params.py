"""Times in query strings mean the same on every read API: one parser for logs, traces and metrics."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from tests.logs.conftest import logs_url, read
from tests.telemetry import ingest_logs


def test_a_search_range_may_be_given_in_unix_seconds(org_a, db):
    now = datetime.now(UTC)
    ingest_logs(
        org_a.ingest_key, [{"message": "inside", "timestamp": (now - timedelta(minutes=5)).isoformat()}]
    )
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


@pytest.mark.parametrize("path", ["logs", "logs/stats", "logs/patterns", "traces"])
@pytest.mark.parametrize(
    "end", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:00:00-05:00", "-99999w"]
)
def test_a_time_outside_what_can_be_stored_is_a_400_naming_the_allowed_range(client, org_a, path, end):
    # These were 500s: datetime arithmetic (end - 1h, bucket rounding) overflowed near year 1 or 9999.
    response = client.get(
        f"/api/v1/projects/{org_a.project.pk}/{path}",
        {"end": end},
        HTTP_AUTHORIZATION=f"Bearer {org_a.read_key}",
    )

    assert response.status_code == 400, response.content
    assert "end must be between 1970-01-01 and 2100-01-01" in response.content.decode()


def test_the_overview_activity_refuses_a_time_outside_the_allowed_range(alice_client, org_a):
    response = alice_client.get(f"/projects/{org_a.project.pk}/activity/", {"end": "9999-12-31T23:59:59Z"})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"parameter": "end"}
