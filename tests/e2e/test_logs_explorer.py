"""The log explorer in Chromium on the ASGI server: search, histogram zoom, expanded rows,
click-to-filter, syntax errors, hostile text, and live tail fed by the real OpenTelemetry SDK."""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from playwright.sync_api import expect

from tests.e2e.conftest import acknowledged_sdk_export, console_errors, screenshot, sign_up_with_ingest_key

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TRACE = "5b8efff798038103d269b633813fc60c"
HOSTILE_MESSAGE = "<img src=x onerror=alert(1)>"
HOSTILE_ATTRIBUTE = '"><script>alert(1)</script>'


def ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def ingest_logs(key: str, records: list[dict[str, Any]]) -> None:
    response = Client().post(
        "/api/v1/ingest/logs",
        json.dumps(records),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content
    assert response.json()["rejected"] == 0, response.content


def otlp_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    return {"stringValue": str(value)}


def otlp_attributes(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": otlp_value(value)} for key, value in mapping.items()]


def otlp_log(record: dict[str, Any]) -> dict[str, Any]:
    log = {
        "timeUnixNano": str(int(datetime.fromisoformat(record["timestamp"]).timestamp() * 1e9)),
        "severityNumber": record["severity"],
        "body": {"stringValue": record["message"]},
        "attributes": otlp_attributes(record.get("attributes", {})),
    }
    if "trace_id" in record:
        log.update(traceId=record["trace_id"], spanId=record["span_id"])
    return log


def ingest_otlp_logs(key: str, service: str, host: str, records: list[dict[str, Any]]) -> None:
    """OTLP/JSON logs, so rows carry a resource (service.name, host.name) as real SDKs send."""
    resource = {"attributes": otlp_attributes({"service.name": service, "host.name": host})}
    body = {
        "resourceLogs": [
            {"resource": resource, "scopeLogs": [{"logRecords": [otlp_log(r) for r in records]}]}
        ]
    }
    response = Client().post(
        "/v1/logs", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code == 200, response.content


def seed_explorer(key: str) -> None:
    """An hour of a checkout service: mostly info, some warnings, a few errors, one traced failure."""
    routes = ["/api/cart", "/api/pay", "/api/products", "/api/login"]
    records = []
    for i in range(120):
        minute = 58 - i * 0.48
        severity, status = (17, 502) if i % 23 == 5 else (13, 429) if i % 9 == 2 else (9, 200)
        route = routes[i % len(routes)]
        message = (
            f"upstream payment-gateway timed out after {800 + i * 7} ms"
            if severity == 17
            else f"rate limit close for client {1000 + i}"
            if severity == 13
            else f"GET {route} {status} in {12 + i % 40} ms"
        )
        records.append(
            {
                "timestamp": ago(minute),
                "severity": severity,
                "message": message,
                "attributes": {"http.route": route, "http.status_code": status, "user.id": f"u-{i % 7}"},
            }
        )
    records.append(
        {
            "timestamp": ago(0.5),
            "severity": 17,
            "message": "card declined by issuer: insufficient funds",
            "attributes": {"http.route": "/api/pay", "http.status_code": 402, "order.id": "ord 4711"},
            "trace_id": TRACE,
            "span_id": "00f067aa0ba902b7",
        }
    )
    ingest_otlp_logs(key, "checkout", "web-1", records)
    ingest_logs(
        key,
        [
            {"timestamp": ago(m), "level": "debug", "service": "worker", "message": f"job {m} picked up"}
            for m in range(1, 40, 3)
        ],
    )


def open_explorer(page, project_id: int, query: str = "") -> None:
    suffix = f"?q={query}" if query else ""
    page.goto(f"/projects/{project_id}/logs/{suffix}")
    expect(page.locator("#log-rows tr.logrow").first).to_be_visible()


def test_the_explorer_shows_newest_lines_first_with_a_level_histogram(page_as, org_a, alice):
    seed_explorer(org_a.ingest_key)
    page = page_as(alice)
    errors = console_errors(page)

    open_explorer(page, org_a.project.pk)

    rows = page.locator("#log-rows tr.logrow")
    expect(rows.first.locator(".cell-message")).to_have_text("card declined by issuer: insufficient funds")
    expect(page.get_by_test_id("log-total")).to_contain_text("134")
    expect(page.locator("#log-histogram canvas")).to_have_count(1)
    expect(page.get_by_test_id("range-picker").locator("[aria-pressed=true]")).to_have_text("1h")
    assert rows.count() == 100
    page.mouse.move(900, 330)  # hover a bar: the tooltip shows the bucket's counts
    screenshot(page, "logs-explorer", full_page=False)

    page.get_by_test_id("load-more").click()
    expect(rows).to_have_count(134)
    expect(page.get_by_test_id("load-more")).to_be_hidden()
    assert errors == []


def test_a_row_expands_and_a_clicked_value_becomes_a_filter_in_a_shareable_url(page_as, org_a, bob):
    seed_explorer(org_a.ingest_key)
    page = page_as(bob)  # a viewer reads everything
    errors = console_errors(page)
    open_explorer(page, org_a.project.pk)

    page.locator("#log-rows tr.logrow").first.click()
    detail = page.get_by_test_id("log-detail")
    expect(detail).to_be_visible()
    expect(detail.get_by_test_id("full-message")).to_have_text("card declined by issuer: insufficient funds")
    expect(detail.get_by_test_id("trace-link")).to_have_attribute(
        "href", f"/projects/{org_a.project.pk}/traces/{TRACE}/"
    )
    expect(detail.locator("[data-term='resource.host.name:web-1']")).to_be_visible()
    page.mouse.move(10, 10)
    screenshot(page, "logs-expanded-row", full_page=False)

    # A value with a space is quoted, so the query still parses.
    detail.locator("[data-term='attr.order.id:\"ord 4711\"']").click()
    expect(page.get_by_test_id("log-query")).to_have_value('attr.order.id:"ord 4711"')
    expect(page.locator("#log-rows tr.logrow")).to_have_count(1)

    page.locator("#log-rows tr.logrow").first.click()
    page.get_by_test_id("log-detail").locator("[data-term='service:checkout']").click()
    expect(page.get_by_test_id("log-query")).to_have_value('attr.order.id:"ord 4711" service:checkout')
    expect(page.locator("#log-rows tr.logrow")).to_have_count(1)
    assert parse_qs(urlparse(page.url).query)["q"] == ['attr.order.id:"ord 4711" service:checkout']

    # The URL alone reproduces the view.
    shared = page.url
    other = page_as(bob)
    other.goto(shared)
    expect(other.locator("#log-rows tr.logrow")).to_have_count(1)
    expect(other.get_by_test_id("log-query")).to_have_value('attr.order.id:"ord 4711" service:checkout')
    assert errors == []


def test_a_query_with_a_level_filter_narrows_rows_and_histogram(page_as, org_a, alice):
    seed_explorer(org_a.ingest_key)
    page = page_as(alice)
    open_explorer(page, org_a.project.pk, "level%3E%3Derror")

    expect(page.locator("#log-rows tr.logrow")).to_have_count(6)
    expect(page.get_by_test_id("log-total")).to_contain_text("6 lines")
    expect(page.get_by_test_id("log-total")).to_contain_text("100.0% errors")
    levels = page.locator("#log-rows .lvl").all_inner_texts()
    assert {level.lower() for level in levels} == {"error"}


def test_picking_a_shorter_range_keeps_only_its_lines(page_as, org_a, alice):
    seed_explorer(org_a.ingest_key)
    page = page_as(alice)
    open_explorer(page, org_a.project.pk)

    page.get_by_test_id("range-picker").get_by_role("button", name="15m").click()

    expect(page.get_by_test_id("range-label")).to_have_text("last 15m")
    rows = page.locator("#log-rows tr.logrow")
    expect(rows).not_to_have_count(100)
    stamps = page.locator("#log-rows .cell-time").evaluate_all("cells => cells.map(c => c.title)")
    oldest = datetime.now(UTC) - timedelta(minutes=15, seconds=30)
    assert stamps and all(datetime.fromisoformat(s) > oldest for s in stamps)
    assert parse_qs(urlparse(page.url).query)["range"] == ["15m"]


def test_a_syntax_error_is_shown_under_the_bar_with_a_caret_at_its_position(page_as, org_a, alice):
    seed_explorer(org_a.ingest_key)
    page = page_as(alice)
    errors = console_errors(page)
    open_explorer(page, org_a.project.pk)

    page.get_by_test_id("log-query").fill("(timeout OR refused service:api")
    page.get_by_test_id("log-query").press("Enter")

    box = page.get_by_test_id("query-error")
    expect(box).to_be_visible()
    expect(box).to_contain_text("expected ')'")
    source = page.get_by_test_id("query-error-source").inner_text().split("\n")
    assert source[0] == "(timeout OR refused service:api"
    assert source[1].index("^") == len("(timeout OR refused service:api")
    expect(page.get_by_test_id("log-query")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "logs-syntax-error", full_page=False)

    page.get_by_test_id("log-query").fill("(timed OR refused) service:checkout")
    page.get_by_test_id("log-query").press("Enter")
    expect(box).to_be_hidden()
    expect(page.locator("#log-rows tr.logrow").first).to_contain_text("timed out")
    # Console errors from the 400 response itself are the browser's network log, not a script error.
    assert [e for e in errors if "status of 400" not in e] == []


def test_dragging_across_the_histogram_zooms_into_a_custom_range(page_as, org_a, alice):
    seed_explorer(org_a.ingest_key)
    page = page_as(alice)
    open_explorer(page, org_a.project.pk)
    before = page.locator("#log-rows tr.logrow").count()

    box = page.locator("#log-histogram .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=8)
    page.mouse.up()

    expect(page.get_by_test_id("range-picker").locator("[aria-pressed=true]")).to_have_text("Custom")
    expect(page.get_by_test_id("custom-range")).to_be_visible()
    params = parse_qs(urlparse(page.url).query)
    start, end = (datetime.fromisoformat(params[k][0].replace("Z", "+00:00")) for k in ("start", "end"))
    assert params["range"] == ["custom"]
    assert timedelta(minutes=10) < end - start < timedelta(minutes=20)
    expect(page.locator("#log-rows tr.logrow")).not_to_have_count(before)
    stamps = page.locator("#log-rows .cell-time").evaluate_all("cells => cells.map(c => c.title)")
    assert 0 < len(stamps) < before
    assert all(start <= datetime.fromisoformat(s) < end for s in stamps)


def test_hostile_log_text_is_shown_as_text_and_never_runs(page_as, org_a, alice):
    ingest_logs(
        org_a.ingest_key,
        [
            {
                "timestamp": ago(1),
                "level": "error",
                "service": "<b>svc</b>",
                "message": HOSTILE_MESSAGE,
                "attributes": {HOSTILE_ATTRIBUTE: HOSTILE_ATTRIBUTE, "note": HOSTILE_ATTRIBUTE},
            }
        ],
    )
    page = page_as(alice)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors = console_errors(page)
    open_explorer(page, org_a.project.pk)

    row = page.locator("#log-rows tr.logrow").first
    expect(row.locator(".cell-message")).to_have_text(HOSTILE_MESSAGE)
    expect(row.locator(".cell-service")).to_have_text("<b>svc</b>")
    row.click()
    detail = page.get_by_test_id("log-detail")
    expect(detail.get_by_test_id("full-message")).to_have_text(HOSTILE_MESSAGE)
    expect(detail.locator("th", has_text=HOSTILE_ATTRIBUTE)).to_have_count(1)
    expect(detail.locator(".kv-value", has_text=HOSTILE_ATTRIBUTE)).to_have_count(2)
    # "note" is a usable key: clicking its value puts it in the query, quoted and escaped.
    detail.locator(".kv-filter", has_text=HOSTILE_ATTRIBUTE).click()
    expect(page.get_by_test_id("log-query")).to_have_value('attr.note:"\\"><script>alert(1)</script>"')
    expect(page.locator("#log-rows tr.logrow")).to_have_count(1)

    explorer = page.get_by_test_id("logs-explorer")
    assert explorer.locator("img").count() == 0
    assert page.locator("script:not([src])").count() == 0
    assert explorer.locator("b").count() == 0
    assert dialogs == []
    assert errors == []


def test_an_unknown_project_is_a_404_page(page_as, org_b, mallory, org_a):
    page = page_as(mallory)
    response = page.goto(f"/projects/{org_a.project.pk}/logs/")
    assert response.status == 404
    assert "Acme" not in page.content()


# --- live tail ---------------------------------------------------------------------------------------------


def wait_for_live(page) -> None:
    expect(page.locator("#logs-explorer[data-live=live]")).to_be_attached(timeout=15_000)


def test_live_tail_streams_matching_lines_in_without_reload(page_as, org_a, alice):
    seed_explorer(org_a.ingest_key)
    page = page_as(alice)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors = console_errors(page)
    open_explorer(page, org_a.project.pk, "service:checkout")
    wait_for_live(page)
    page.get_by_test_id("live-tail").click()
    expect(page.get_by_test_id("live-tail")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("tail-state")).to_have_text("Streaming new lines", timeout=15_000)
    page.evaluate("document.body.dataset.marker = 'same-page'")  # proves no reload happened
    page.mouse.move(5, 5)

    ingest_logs(
        org_a.ingest_key,
        [
            {"level": "error", "service": "checkout", "message": "tail: payment failed for order 99"},
            {"level": "info", "service": "worker", "message": "tail: not matching the query"},
            {"level": "warn", "service": "checkout", "message": HOSTILE_MESSAGE},
        ],
    )

    first = page.locator("#log-rows tr.logrow").first
    expect(page.locator("#log-rows tr.logrow", has_text="tail: payment failed for order 99")).to_have_count(1)
    expect(page.locator("#log-rows tr.logrow", has_text=HOSTILE_MESSAGE)).to_have_count(1)
    expect(first).to_have_class(re.compile("is-new"))
    assert page.locator("#log-rows tr.logrow", has_text="not matching").count() == 0
    assert page.evaluate("document.body.dataset.marker") == "same-page"
    assert page.get_by_test_id("logs-explorer").locator("img").count() == 0
    assert dialogs == []
    screenshot(page, "logs-live-tail", full_page=False)
    assert parse_qs(urlparse(page.url).query)["tail"] == ["1"]
    assert errors == []


def test_live_tail_says_how_many_lines_it_could_not_show(page_as, org_a, bob):
    page = page_as(bob)
    page.goto(f"/projects/{org_a.project.pk}/logs/?tail=1")
    wait_for_live(page)
    expect(page.get_by_test_id("tail-state")).to_have_text("Streaming new lines", timeout=15_000)

    ingest_logs(
        org_a.ingest_key,
        [
            {"level": "info", "service": "api", "message": "a line that fits"},
            {"level": "info", "service": "api", "message": "x" * 20_000},  # over live tail's line limit
        ],
    )

    expect(page.locator("#log-rows tr.logrow", has_text="a line that fits")).to_have_count(1)
    expect(page.get_by_test_id("tail-omitted")).to_contain_text("1 line not shown")


def test_hovering_the_rows_holds_new_lines_back_until_the_pointer_leaves(page_as, org_a, alice):
    ingest_logs(
        org_a.ingest_key, [{"level": "info", "service": "api", "message": f"old {i}"} for i in range(5)]
    )
    page = page_as(alice)
    open_explorer(page, org_a.project.pk)
    wait_for_live(page)
    page.get_by_test_id("live-tail").click()
    expect(page.get_by_test_id("tail-state")).to_have_text("Streaming new lines", timeout=15_000)
    page.locator("#log-rows tr.logrow").nth(2).hover()

    ingest_logs(org_a.ingest_key, [{"level": "warn", "service": "api", "message": "arrived while reading"}])

    expect(page.get_by_test_id("tail-resume")).to_have_text("Paused · 1 new line — show")
    assert page.locator("#log-rows tr.logrow", has_text="arrived while reading").count() == 0
    page.mouse.move(5, 5)
    expect(page.locator("#log-rows tr.logrow").first).to_contain_text("arrived while reading")
    expect(page.get_by_test_id("tail-resume")).to_be_hidden()


EMAIL = "tess@example.test"
PASSWORD = "tess-has-a-long-passphrase"


def test_sign_up_create_project_and_key_then_sdk_logs_appear_in_the_open_explorer(
    page_as, asgi_server, browser
):
    """The issue's flow end to end; prints ingest-acknowledged -> visible-in-page latency."""

    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=asgi_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = console_errors(page)
    try:
        project_id, secret = sign_up_with_ingest_key(page, EMAIL, PASSWORD, "Tess Labs")

        page.goto(f"/projects/{project_id}/logs/")
        expect(page.get_by_test_id("results-state")).to_contain_text("No logs")
        wait_for_live(page)
        page.get_by_test_id("live-tail").click()
        expect(page.get_by_test_id("tail-state")).to_have_text("Streaming new lines", timeout=15_000)
        page.mouse.move(5, 5)

        marker = f"sdk-line-{secrets.token_hex(6)}"  # no long digit run: redaction could mask it
        acknowledged = acknowledged_sdk_export(SDK_SENDER, asgi_server.url, secret, marker)
        try:
            expect(page.locator("#log-rows tr.logrow", has_text=marker)).to_have_count(3, timeout=15_000)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{live_tail_state(page, project_id)}") from None
        visible = time.time()
        latency_ms = (visible - acknowledged) * 1000
        print(f"\nlive tail latency, ingest acknowledged -> visible in page: {latency_ms:.0f} ms")
        screenshot(page, "logs-live-tail-sdk", full_page=False)
        assert errors == []
    finally:
        context.close()


def live_tail_state(page, project_id: int) -> str:
    """What a failed live tail expectation needs to be understood: the page's state and the rows."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM logs_event WHERE project_id = %s", [project_id])
        stored = cursor.fetchone()[0]
    shown = page.evaluate(
        """() => ({
            live: document.getElementById("logs-explorer").dataset.live,
            loading: document.getElementById("logs-explorer").classList.contains("is-loading"),
            tail: document.querySelector("[data-testid=tail-state]").textContent,
            resume: document.querySelector("[data-testid=tail-resume]").hidden ? null
                : document.querySelector("[data-testid=tail-resume]").textContent,
            rows: document.querySelectorAll("#log-rows tr.logrow").length,
            results: document.querySelector("[data-testid=results-state]")?.textContent,
        })"""
    )
    return f"rows stored for the project: {stored}; page: {shown}"


# Runs in a subprocess with the stock SDK, configured only by OTEL_* variables. It exports
# synchronously, so the time printed is when Vigil acknowledged the batch.
SDK_SENDER = """
import json, logging, sys, time
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

marker = sys.argv[1]
provider = LoggerProvider()
exporter = OTLPLogExporter()
provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
logger = logging.getLogger("shop")
logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
logger.setLevel(logging.INFO)
logger.propagate = False
logger.info("%s checkout started", marker)
logger.warning("%s payment slow", marker, extra={"order_id": 7})
logger.error("%s payment failed", marker)
acknowledged_at = time.time()
provider.shutdown()
print(json.dumps({"acknowledged_at": acknowledged_at}))
"""
