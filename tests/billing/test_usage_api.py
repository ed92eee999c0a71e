"""The usage API and page: accepted vs dropped by reason per bucket, the quota and its projection
for admins, members their projects' part, and metering gaps shown rather than guessed."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from apps.billing.models import MeterGap
from tests.billing.conftest import put_on_plan, usage_of
from tests.telemetry import post_json

pytestmark = pytest.mark.django_db


def ingest_and_block(org_a):
    put_on_plan(org_a.organization, events_per_month=10, overage="block")
    assert post_json("/api/v1/ingest/logs", [{"message": "x"}] * 10, org_a.ingest_key).status_code == 200
    assert post_json("/api/v1/ingest/logs", [{"message": "y"}] * 4, org_a.ingest_key).status_code == 429
    usage_of(org_a.organization)  # flush


def test_the_owner_sees_accepted_and_dropped_by_reason_and_the_quota(org_a, alice_client):
    ingest_and_block(org_a)
    response = alice_client.get(
        f"/api/v1/orgs/{org_a.organization.pk}/usage", {"group_by": "project,signal,reason", "step": "hour"}
    )
    assert response.status_code == 200, response.content
    report = response.json()
    totals = {(t["project_id"], t["signal"], t["reason"]): t["count"] for t in report["totals"]}
    assert totals == {(org_a.project.pk, "logs", "accepted"): 10, (org_a.project.pk, "logs", "quota"): 4}
    assert sum(b["count"] for b in report["buckets"]) == 14
    assert report["quota"]["used"] == 10 and report["quota"]["remaining"] == 0
    assert report["quota"]["plan"] == {
        "slug": "tiny",
        "name": "Tiny",
        "events_per_month": 10,
        "overage": "block",
        "overage_cap": None,
    }


def test_members_see_the_usage_of_their_projects_but_not_the_plan(org_a, bob_client):
    ingest_and_block(org_a)
    report = bob_client.get(f"/api/v1/orgs/{org_a.organization.pk}/usage").json()
    assert "quota" not in report
    assert {(t["signal"], t["reason"]): t["count"] for t in report["totals"]} == {
        ("logs", "accepted"): 10,
        ("logs", "quota"): 4,
    }


@pytest.mark.parametrize(
    "params, message",
    [
        ({"group_by": "colour"}, "Unknown group_by colour"),
        ({"start": "last tuesday"}, "start must be an ISO date"),
        ({"start": "2026-12-05", "end": "2026-12-01"}, "end must be after start"),
        ({"step": "minute"}, "step must be hour or day"),
        ({"start": "2026-01-01", "end": "2026-02-01", "step": "hour"}, "Hourly usage is kept 48 hours"),
    ],
)
def test_a_bad_query_is_a_400_that_says_what_is_wrong(org_a, alice_client, params, message):
    response = alice_client.get(f"/api/v1/orgs/{org_a.organization.pk}/usage", params)
    assert response.status_code == 400
    assert message in str(response.json())


def test_the_projection_says_when_the_quota_runs_out_at_the_current_rate(org_a, alice_client):
    put_on_plan(org_a.organization, events_per_month=100, overage="block")
    with time_machine.travel(datetime(2026, 12, 11, tzinfo=UTC), tick=False):  # 10 days into December
        assert post_json("/api/v1/ingest/logs", [{"message": "x"}] * 50, org_a.ingest_key).status_code == 200
        quota = alice_client.get(f"/api/v1/orgs/{org_a.organization.pk}/usage").json()["quota"]
    assert quota["projected"] == 155  # 50 in 10 days → 155 over 31 days
    assert quota["runs_out_at"].startswith("2026-12-21")


def test_metering_gaps_are_reported(org_a, alice_client):
    MeterGap.objects.create(
        organization_id=org_a.organization.pk,
        minute=datetime.now(UTC).replace(second=0, microsecond=0),
        requests=3,
    )
    report = alice_client.get(f"/api/v1/orgs/{org_a.organization.pk}/usage").json()
    assert report["gaps"][0]["requests"] == 3
    page = alice_client.get(reverse("billing:usage", args=[org_a.organization.pk])).content.decode()
    assert "Metering was interrupted in 1 minute" in page


def test_the_usage_page_shows_the_quota_the_chart_data_and_the_table(org_a, alice_client):
    ingest_and_block(org_a)
    page = alice_client.get(reverse("billing:usage", args=[org_a.organization.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Tiny plan" in html and 'id="usage-data"' in html and "Dropped: over quota" in html
    assert 'src="/static/js/usage.js"' in html


def test_a_big_quota_barely_used_projects_no_run_out_date_rather_than_a_500(org_a, alice_client):
    """At one event in a period the quota would last for millennia: past datetime's range."""
    put_on_plan(org_a.organization, events_per_month=10**12, overage="block")
    assert post_json("/api/v1/ingest/logs", [{"message": "x"}], org_a.ingest_key).status_code == 200
    usage_of(org_a.organization)  # flush
    response = alice_client.get(f"/api/v1/orgs/{org_a.organization.pk}/usage")
    assert response.status_code == 200, response.content
    assert response.json()["quota"]["used"] == 1
    assert response.json()["quota"]["runs_out_at"] is None
