"""The Alerts tab's charts in Chromium: the create/edit form previews the policy over the last
24 h (threshold drawn, the times it would have fired shaded) as the admin types, before and
after saving; the policy list shows each instance's recent values as a sparkline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from apps.alerts import recent
from apps.alerts.models import Policy
from apps.alerts.tasks import evaluate_policy
from apps.dashboards import live
from tests.alerts.conftest import log
from tests.e2e.conftest import console_errors, screenshot
from tests.telemetry import ingest_logs as ingest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_form_previews_the_policy_and_the_list_draws_recent_values(page_as, org_a, alice):
    now = datetime.now(UTC)
    three_hours_ago = now - timedelta(hours=3)
    ingest(
        org_a.ingest_key, [log(0, three_hours_ago, f"payment failed {n}", service="api") for n in range(4)]
    )
    page = page_as(alice)
    errors = console_errors(page)
    page.goto(f"/projects/{org_a.project.pk}/alerts/")

    page.get_by_test_id("policy-query").fill("level>=error service:api")
    page.get_by_test_id("policy-window").select_option("15m")
    page.get_by_test_id("policy-threshold").fill("3")
    note = page.get_by_test_id("policy-preview-note")
    chart = page.get_by_test_id("policy-preview")
    expect(note).to_have_attribute("data-would-fire", "1")
    expect(note).to_contain_text("Would have fired 1 time in the last 24 hours")
    expect(chart).to_have_attribute("data-threshold", "3")
    expect(chart).to_have_attribute("data-firing", "1")
    fired_at = datetime.fromisoformat(chart.get_attribute("data-fired").replace("Z", "+00:00"))
    assert three_hours_ago <= fired_at <= three_hours_ago + timedelta(minutes=20)
    screenshot(page, "policy-preview", full_page=True)

    page.get_by_test_id("policy-threshold").fill("4")  # 4 lines are not > 4
    expect(note).to_have_attribute("data-would-fire", "0")
    expect(chart).to_have_attribute("data-threshold", "4")
    expect(chart).to_have_attribute("data-firing", "0")
    page.get_by_test_id("policy-query").fill("level>>")
    expect(note).to_contain_text("query")  # the 400's field, said where the author looks
    assert not Policy.objects.exists()

    page.get_by_test_id("policy-query").fill("level>=error service:api")
    page.get_by_test_id("policy-name").fill("API errors")
    page.get_by_test_id("policy-create").click()
    row = page.get_by_test_id("policy-row").filter(has_text="API errors")
    expect(row).to_have_count(1)
    policy = Policy.objects.get(name="API errors")
    assert (policy.threshold, policy.window_seconds) == (4.0, 900)

    recent._redis().delete(recent.values_key(policy.pk))
    ingest(org_a.ingest_key, [log(0.2, now, "payment failed", service="api")])
    assert evaluate_policy(policy.pk) == 0  # evaluated (not claimed elsewhere), below the threshold
    live.drain()
    page.reload()
    expect(row.get_by_test_id("sparkline")).to_have_attribute("data-points", "1")
    expect(row.get_by_test_id("sparkline").locator("polyline")).to_have_count(1)

    row.get_by_test_id("policy-edit").click()
    expect(page.get_by_test_id("policy-form")).to_have_attribute("data-editing", str(policy.pk))
    page.get_by_test_id("policy-threshold").fill("2")
    expect(note).to_have_attribute("data-would-fire", "1")  # the saved policy, previewed with the edit
    expect(chart).to_have_attribute("data-threshold", "2")
    page.get_by_test_id("policy-create").click()  # now "Save"
    expect(row).to_contain_text("> 2 over 15m")
    assert Policy.objects.get(pk=policy.pk).threshold == 2.0
    expected = "status of 400 (Bad Request)"  # the preview of "level>>", answered and shown above
    assert [e for e in errors if expected not in e] == []
