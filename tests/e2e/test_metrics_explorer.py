"""The metrics explorer in Chromium on the ASGI server: search and pick a metric, aggregate and
group it, filter by label, a URL that restores the exact view, hostile metric names shown as
text, and a live refresh when new points of the charted metric arrive."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from playwright.sync_api import expect

from apps.dashboards import demo
from tests.e2e.conftest import console_errors, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_VALUE = '"><script>alert(2)</script>'


def ingest_metrics(key: str, records: list[dict]) -> None:
    response = Client().post(
        "/api/v1/ingest/metrics",
        json.dumps(records),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content


def query_of(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_a_grouped_percentile_chart_with_legend_and_series_table_in_a_url_that_restores_it(
    page_as, org_a, bob
):
    demo.fill(org_a.project, hours=1)
    page = page_as(bob)
    errors = console_errors(page)
    page.goto(f"/projects/{org_a.project.pk}/metrics/")

    # The page picks the HTTP latency histogram by default, at its 50th percentile.
    expect(page.get_by_test_id("metric-list").locator("[aria-selected=true]")).to_contain_text(
        "http.server.request.duration"
    )
    expect(page.get_by_test_id("agg")).to_have_value("p50")
    page.get_by_test_id("agg").select_option("p95")
    page.get_by_test_id("group-by").get_by_role("button", name="service.name", exact=True).click()

    rows = page.get_by_test_id("series-table").locator("tbody tr")
    expect(rows).to_have_count(5)  # the five backend services
    expect(rows.filter(has_text="service.name=checkout")).to_have_count(1)
    legend = page.get_by_test_id("metric-chart").locator(".u-legend")
    expect(legend).to_contain_text("service.name=catalog")
    assert float(page.get_by_test_id("metric-chart").get_attribute("data-total")) > 0
    assert query_of(page) == {
        "metric": ["http.server.request.duration"],
        "agg": ["p95"],
        "group": ["service.name"],
    }

    # Hovering shows each series' value at that moment in the legend.
    plot = page.get_by_test_id("metric-chart").locator(".u-over")
    box = plot.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2)
    expect(legend.locator(".u-value").nth(1)).to_have_text(re.compile(r"\d+(\.\d+)? (ms|s|µs)"))
    screenshot(page, "metrics-explorer")

    # Filter to one route, then reload: the same view comes back from the URL alone.
    page.get_by_test_id("filters").locator("select").select_option("http.route")
    page.get_by_test_id("filters").locator("input").fill("/api/checkout")
    page.get_by_test_id("filters").get_by_role("button", name="Add").click()
    expect(rows).to_have_count(1)
    shared = page.url
    page.goto(shared)
    expect(page.get_by_test_id("agg")).to_have_value("p95")
    expect(page.get_by_test_id("filters").locator(".chip")).to_have_text(
        re.compile(r"http\.route = /api/checkout")
    )
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("service.name=checkout")
    assert errors == []


def test_searching_picks_another_metric_and_keeps_only_its_aggregations(page_as, org_a, alice):
    demo.fill(org_a.project, hours=0.5)
    page = page_as(alice)
    page.goto(f"/projects/{org_a.project.pk}/metrics/?metric=http.server.request.duration&agg=p99")

    page.get_by_test_id("metric-search").fill("memory")
    items = page.get_by_test_id("metric-list").locator("button")
    expect(items).to_have_count(1)
    page.get_by_test_id("metric-search").press("Enter")

    expect(page.locator("#metric-name")).to_have_text("process.memory.usage")
    expect(page.get_by_test_id("agg").locator("option")).to_have_text(
        ["average", "minimum", "maximum", "sum", "count"]
    )
    assert query_of(page)["agg"] == ["avg"]
    expect(page.get_by_test_id("series-table").locator("tbody td.num").first).to_have_text(re.compile(r"MiB"))


def test_hostile_metric_names_and_label_values_are_shown_as_text(page_as, org_a, alice):
    ingest_metrics(
        org_a.ingest_key,
        [
            {"name": HOSTILE_NAME, "type": "gauge", "value": 1, "labels": {"tag": HOSTILE_VALUE}},
        ],
    )
    page = page_as(alice)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors = console_errors(page)

    page.goto(f"/projects/{org_a.project.pk}/metrics/?group=tag")

    expect(page.locator("#metric-name")).to_have_text(HOSTILE_NAME)
    expect(page.get_by_test_id("metric-list")).to_contain_text(HOSTILE_NAME)
    expect(page.get_by_test_id("series-table")).to_contain_text(f"tag={HOSTILE_VALUE}")
    assert page.locator("img[src=x]").count() == 0 and page.locator("#metrics-explorer script").count() == 0
    assert dialogs == [] and errors == []


def test_new_points_of_the_charted_metric_refresh_the_chart_without_reload(page_as, org_a, alice):
    ingest_metrics(org_a.ingest_key, [{"name": "queue.depth", "type": "gauge", "value": 4}])
    page = page_as(alice)
    page.goto(f"/projects/{org_a.project.pk}/metrics/?metric=queue.depth&agg=max&range=15m")
    expect(page.locator("#metrics-explorer[data-live=live]")).to_be_attached(timeout=15_000)
    expect(page.get_by_test_id("series-table").locator("td.num").last).to_have_text("4")
    page.evaluate("() => { window.sameDocument = true; }")

    ingest_metrics(org_a.ingest_key, [{"name": "queue.depth", "type": "gauge", "value": 250}])

    expect(page.get_by_test_id("series-table").locator("td.num").last).to_have_text("250", timeout=15_000)
    assert page.evaluate("() => window.sameDocument") is True


def test_an_exemplar_on_a_latency_chart_opens_the_trace_it_was_measured_in(page_as, org_a, bob):
    from tests.e2e.test_traces import TraceBuilder

    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    trace = TraceBuilder(trace_id, seconds_ago=120)
    trace.span(span_id, "", "checkout", "POST /api/checkout", 0, 840)
    trace.send(org_a.ingest_key)
    now_ns = time.time_ns()
    point = {
        "timeUnixNano": str(now_ns - 60 * 10**9),
        "startTimeUnixNano": str(now_ns - 120 * 10**9),
        "count": "3",
        "sum": 1.2,
        "explicitBounds": [0.1, 0.5, 1.0],
        "bucketCounts": ["1", "1", "1", "0"],
        "exemplars": [
            {
                "timeUnixNano": str(now_ns - 90 * 10**9),
                "asDouble": 0.84,
                "traceId": trace_id,
                "spanId": span_id,
            }
        ],
    }
    metric = {
        "name": "checkout.duration",
        "unit": "s",
        "histogram": {"aggregationTemporality": 1, "dataPoints": [point]},
    }
    response = Client().post(
        "/v1/metrics",
        json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {org_a.ingest_key}",
    )
    assert response.status_code == 200, response.content
    page = page_as(bob)
    errors = console_errors(page)

    page.goto(f"/projects/{org_a.project.pk}/metrics/?metric=checkout.duration&agg=p99&range=15m")

    marker = page.get_by_test_id("metric-chart").get_by_test_id("chart-marker")
    expect(marker).to_have_count(1)
    expect(marker).to_have_attribute("title", re.compile(r"^Exemplar 840 ms at .+: open its trace$"))
    marker.click()
    expect(page).to_have_url(re.compile(rf"/projects/{org_a.project.pk}/traces/{trace_id}/$"))
    expect(page.get_by_test_id("span-row")).to_have_count(1)
    expect(page.get_by_test_id("span-row")).to_contain_text("POST /api/checkout")
    assert errors == []
