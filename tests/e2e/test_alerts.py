"""The Alerts tab in Chromium on the ASGI server: an admin creates a log-count policy in the UI,
matching logs arrive, the evaluation (the Celery task's body) fires it, and the tab shows it
firing without a reload; then the incident is acknowledged from the page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from apps.alerts.models import Incident, Policy
from apps.alerts.tasks import evaluate_policy
from apps.dashboards import live
from tests.alerts.conftest import log
from tests.e2e.conftest import console_errors, screenshot
from tests.logs.conftest import ingest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_policy_made_in_the_ui_fires_live_and_is_acknowledged(page_as, org_a, alice):
    page = page_as(alice)
    errors = console_errors(page)
    page.goto(f"/projects/{org_a.project.pk}/alerts/")
    expect(page.get_by_test_id("policy-state")).to_have_text("No policies yet.")

    page.get_by_test_id("policy-name").fill("API errors")
    page.get_by_test_id("policy-query").fill("level>=error service:api")
    page.get_by_test_id("policy-threshold").fill("2")
    page.get_by_test_id("policy-create").click()
    row = page.get_by_test_id("policy-row").filter(has_text="API errors")
    expect(row).to_have_attribute("data-state", "normal")
    policy = Policy.objects.get(name="API errors")
    assert policy.spec["query"] == "level>=error service:api"
    expect(page.get_by_test_id("alerts-page")).to_have_attribute("data-live", "live")
    page.evaluate("window.__same_page = true")

    now = datetime.now(UTC)
    ingest(org_a.ingest_key, [log(0.5, now, service="api") for _ in range(3)])
    assert evaluate_policy(policy.pk) == 1
    live.drain()

    expect(row).to_have_attribute("data-state", "firing")
    incident_row = page.get_by_test_id("incident-row")
    expect(incident_row).to_contain_text("API errors")
    assert page.evaluate("window.__same_page") is True  # no reload happened
    screenshot(page, "alerts-firing", full_page=False)

    incident_row.get_by_test_id("ack").click()
    expect(incident_row).to_have_attribute("data-state", "acknowledged")
    expect(incident_row).to_contain_text("alice@acme.test")
    assert Incident.objects.get(policy=policy).acknowledged_by == alice
    assert errors == []
