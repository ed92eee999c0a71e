"""The usage page in a browser: after a burst blocked by the quota, the chart shows the accepted
records and the dropped-by-quota bar, and the quota card says the quota is used up."""

import httpx
import orjson
import pytest

from tests.billing.conftest import put_on_plan, usage_of
from tests.e2e.conftest import console_errors, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_blocked_burst_shows_as_a_dropped_by_quota_bar(page_as, asgi_server, org_a, alice):
    put_on_plan(org_a.organization, events_per_month=50, overage="block")
    statuses = []
    for batch in range(5):
        response = httpx.post(
            f"{asgi_server.url}/api/v1/ingest/logs",
            content=orjson.dumps([{"message": f"b{batch} r{i}"} for i in range(20)]),
            headers={"authorization": f"Bearer {org_a.ingest_key}", "content-type": "application/json"},
            timeout=30,
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429, 429]
    assert usage_of(org_a.organization) == {("logs", "accepted"): 60, ("logs", "quota"): 40}

    page = page_as(alice)
    errors = console_errors(page)
    page.goto(f"/orgs/{org_a.organization.pk}/usage/?step=hour")
    chart = page.locator("[data-testid=usage-chart]")
    chart.locator("canvas").wait_for()
    legend = chart.locator(".u-legend").inner_text()
    assert "Accepted" in legend and "Dropped: over quota" in legend
    # Point at the one bar: the legend then reads each layer's own count.
    box = chart.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    legend = chart.locator(".u-legend").inner_text()
    assert "40" in legend and "60" in legend, legend
    assert "60 of 50 events accepted" in page.locator("[data-testid=quota]").inner_text()
    assert "Dropped: over quota" in page.locator("[data-testid=usage-table]").inner_text()
    screenshot(page, "usage-page")
    assert errors == []
