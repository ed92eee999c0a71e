"""Incidents seen live outside the Alerts tab, in Chromium on the ASGI server: the project
overview's banner of firing incidents and the org home's "incidents" cell of the project follow
a policy that fires (a real evaluation of logs sent through ingestion) and its acknowledgement,
without a reload."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from apps.alerts.incidents import incident_acknowledge
from apps.alerts.models import Incident
from apps.alerts.services import policy_create
from apps.alerts.tasks import evaluate_policy
from apps.dashboards import live
from tests.alerts.conftest import log
from tests.e2e.conftest import console_errors, screenshot
from tests.telemetry import ingest_logs as ingest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_overview_banner_and_the_org_home_cell_follow_an_incident_live(page_as, org_a, alice, bob):
    policy = policy_create(
        org_a.project,
        {
            "name": "Checkout errors",
            "kind": "log_count",
            "spec": {"query": "level>=error service:checkout"},
            "op": ">",
            "threshold": 1.0,
            "priority": "P1",
        },
        actor=None,
    )
    now = datetime.now(UTC)
    ingest(org_a.ingest_key, [log(3, now, "all good", level="info", service="checkout")])

    home = page_as(bob)  # a viewer sees both, live
    home_errors = console_errors(home)
    home.goto(f"/orgs/{org_a.organization.pk}/")
    card = home.get_by_test_id("project-card").filter(has_text=org_a.project.name)
    cell = card.get_by_test_id("open-incidents")
    expect(cell).to_have_text("0")
    expect(home.locator("#org-home")).to_have_attribute("data-live", "live")

    overview = page_as(alice)
    overview_errors = console_errors(overview)
    overview.goto(f"/projects/{org_a.project.pk}/")
    banner = overview.get_by_test_id("firing-banner")
    expect(overview.get_by_test_id("overview")).to_have_attribute("data-live", "live")
    expect(banner).to_be_hidden()
    for page in (home, overview):
        page.evaluate("window.__same_page = true")

    ingest(org_a.ingest_key, [log(0.5, now, "card declined", service="checkout") for _ in range(2)])
    assert evaluate_policy(policy.pk) == 1
    live.drain()

    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("data-count", "1")
    expect(banner.get_by_test_id("firing-incident")).to_have_text("Checkout errors P1")
    expect(banner).not_to_contain_text("null")
    incident = Incident.objects.get()
    assert banner.get_by_role("link", name="Checkout errors").get_attribute("href") == (
        f"/projects/{org_a.project.pk}/alerts/incidents/{incident.pk}/"
    )
    expect(cell).to_have_text("1")
    expect(cell).to_have_class("bad")
    screenshot(overview, "overview-firing-banner", full_page=False)

    incident_acknowledge(incident, alice)
    live.drain()

    expect(banner).to_be_hidden()  # acknowledged: somebody is on it
    expect(cell).to_have_text("1")
    expect(cell).to_have_class("warn")
    expect(cell).to_have_attribute("title", "0 firing, 1 open")
    for page in (home, overview):
        assert page.evaluate("window.__same_page") is True
    assert home_errors == [] and overview_errors == []
