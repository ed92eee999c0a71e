"""Trace pages in Chromium on the ASGI server: the list with its filters, the waterfall, span
details, the trace's logs, and the not-found state."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from playwright.sync_api import expect

from apps.errors.models import Issue
from apps.errors.services import event_store
from tests.e2e.conftest import console_errors, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
HOSTILE = '"><script>alert(1)</script>'


def attrs(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        return {"stringValue": str(v)}

    return [{"key": k, "value": value(v)} for k, v in mapping.items()]


class TraceBuilder:
    """Spans of one trace, timed in milliseconds from a base a minute or so ago."""

    def __init__(self, trace_id: str, seconds_ago: float = 60) -> None:
        self.trace_id = trace_id
        self.base = int((time.time() - seconds_ago) * 1e9)
        self.by_service: dict[str, list[dict[str, Any]]] = {}

    def span(
        self,
        span_id: str,
        parent: str,
        service: str,
        name: str,
        start_ms: float,
        end_ms: float,
        error: str = "",
        kind: int = 1,
        attributes: dict[str, Any] | None = None,
        events: list[dict[str, Any]] | None = None,
    ) -> None:
        self.by_service.setdefault(service, []).append(
            {
                "traceId": self.trace_id,
                "spanId": span_id,
                "parentSpanId": parent,
                "name": name,
                "kind": kind,
                "startTimeUnixNano": str(self.base + int(start_ms * 1e6)),
                "endTimeUnixNano": str(self.base + int(end_ms * 1e6)),
                "status": {"code": 2, "message": error} if error else {"code": 0},
                "attributes": attrs(attributes or {}),
                "events": [
                    {
                        "timeUnixNano": str(self.base + int(e["at_ms"] * 1e6)),
                        "name": e["name"],
                        "attributes": attrs(e.get("attributes", {})),
                    }
                    for e in events or []
                ],
            }
        )

    def send(self, key: str) -> None:
        body = {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": attrs({"service.name": service, "host.name": f"{service}-7f9c"})
                    },
                    "scopeSpans": [{"spans": spans}],
                }
                for service, spans in self.by_service.items()
            ]
        }
        response = Client().post(
            "/v1/traces",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert response.status_code == 200, response.content

    def log(self, key: str, service: str, span_id: str, level: str, message: str, at_ms: float) -> None:
        record = {
            "timestamp": (self.base + int(at_ms * 1e6)),
            "level": level,
            "service": service,
            "message": message,
            "trace_id": self.trace_id,
            "span_id": span_id,
        }
        response = Client().post(
            "/api/v1/ingest/logs",
            json.dumps([record]),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert response.status_code == 200, response.content


STRIPE = "POST https://api.stripe.test/v1/charges"
# span id suffix, parent suffix, service, name, start ms, end ms, kind (1 internal 2 server 3 client
# 4 producer), error message; ids are "a0000000000000" + suffix.
CHECKOUT_SPANS = [
    ("01", "", "frontend", "POST /api/checkout", 0, 412, 2, ""),
    ("02", "01", "frontend", "session.load", 1.2, 6.8, 1, ""),
    ("03", "01", "checkout", "checkout.place_order", 8, 405, 2, ""),
    ("04", "03", "checkout", "SELECT cart_items", 9.5, 21.4, 3, ""),
    ("05", "03", "inventory", "inventory.reserve", 23, 88, 3, ""),
    ("06", "05", "inventory", "UPDATE stock", 30, 81, 3, ""),
    ("07", "03", "payments", "payments.charge", 92, 398, 3, "card declined: insufficient funds"),
    ("08", "07", "payments", STRIPE, 95, 230, 3, "timeout"),
    ("09", "07", "payments", STRIPE, 242, 395, 3, ""),
    ("0a", "03", "checkout", "publish order.failed", 399, 403.5, 4, ""),
]
CHECKOUT_ATTRIBUTES = {
    "01": {"http.method": "POST", "http.route": "/api/checkout", "http.status_code": 502},
    "03": {"order.items": 3, "order.total": 129.9},
    "04": {"db.system": "postgresql", "db.statement": "SELECT * FROM cart_items WHERE cart_id = $1"},
    "06": {"db.system": "postgresql", HOSTILE: HOSTILE},
    "07": {"payment.provider": "stripe", "payment.amount": 129.9},
}
CHECKOUT_EVENTS = {
    "07": [
        {"name": "retry", "at_ms": 240, "attributes": {"attempt": 2}},
        {"name": "exception", "at_ms": 396, "attributes": {"exception.type": "CardDeclined"}},
    ]
}
CHECKOUT_LOGS = [  # span suffix, service, level, message, at ms
    ("03", "checkout", "info", "placing order for cart 8812 (3 items)", 8.5),
    ("08", "payments", "warn", "stripe did not answer within 135 ms, retrying", 231),
    ("07", "payments", "error", "card declined: insufficient funds", 397),
    ("01", "frontend", "error", "POST /api/checkout answered 502", 412),
]


def send_checkout_trace(key: str) -> None:
    """A failed checkout across four services: a payment retry, then a declined card."""
    t = TraceBuilder(TRACE)
    span_id = "a0000000000000{}".format
    for suffix, parent, service, name, start, end, kind, error in CHECKOUT_SPANS:
        t.span(
            span_id(suffix),
            span_id(parent) if parent else "",
            service,
            name,
            start,
            end,
            error=error,
            kind=kind,
            attributes=CHECKOUT_ATTRIBUTES.get(suffix),
            events=CHECKOUT_EVENTS.get(suffix),
        )
    t.send(key)
    for suffix, service, level, message, at_ms in CHECKOUT_LOGS:
        t.log(key, service, span_id(suffix), level, message, at_ms)


def send_other_traces(key: str) -> None:
    names = [
        ("frontend", "GET /api/products"),
        ("frontend", "GET /api/cart"),
        ("search", "search.query"),
        ("frontend", "POST /api/login"),
        ("worker", "job.send_receipt"),
    ]
    for i in range(14):
        service, name = names[i % len(names)]
        ids = hashlib.sha256(str(i).encode()).hexdigest()
        t = TraceBuilder(ids[:32], seconds_ago=300 + i * 170)
        duration = 8 + (i * 37) % 240
        t.span(ids[32:48], "", service, name, 0, duration, error="boom" if i % 6 == 4 else "", kind=2)
        t.span(ids[48:64], ids[32:48], service, "db.query", 1, duration * 0.6, kind=3)
        t.send(key)


def test_the_trace_list_shows_recent_traces_and_filters_by_status_and_duration(page_as, org_a, bob):
    send_checkout_trace(org_a.ingest_key)
    send_other_traces(org_a.ingest_key)
    page = page_as(bob)
    errors = console_errors(page)

    page.goto(f"/projects/{org_a.project.pk}/traces/")
    rows = page.get_by_test_id("trace-row")
    expect(rows).to_have_count(15)
    expect(rows.first).to_contain_text("POST /api/checkout")
    expect(rows.first).to_contain_text("412 ms")
    expect(rows.first.locator(".status-badge")).to_have_text("error")
    screenshot(page, "traces-list", full_page=False)

    page.get_by_test_id("trace-status").select_option("error")
    expect(rows).to_have_count(3)
    page.get_by_test_id("trace-min").fill("150")
    page.get_by_test_id("trace-min").press("Enter")
    expect(rows).to_have_count(2)
    params = parse_qs(urlparse(page.url).query)
    assert params["status"] == ["error"] and params["min"] == ["150"]

    page.reload()  # the URL alone reproduces the view
    expect(rows).to_have_count(2)
    expect(page.get_by_test_id("trace-min")).to_have_value("150")

    rows.first.click()
    page.wait_for_url(f"**/traces/{TRACE}/")
    expect(page.get_by_test_id("span-row")).to_have_count(10)
    assert errors == []


def test_new_traces_are_announced_on_the_open_list_without_reload(page_as, org_a, alice):
    page = page_as(alice)
    page.goto(f"/projects/{org_a.project.pk}/traces/")
    expect(page.get_by_test_id("trace-state")).to_contain_text("No traces in this range yet.")
    expect(page.locator("#live-status[data-state=live]")).to_be_attached(timeout=15_000)

    send_checkout_trace(org_a.ingest_key)

    page.get_by_test_id("new-traces").click()
    expect(page.get_by_test_id("trace-row")).to_have_count(1)
    expect(page.get_by_test_id("new-traces")).to_be_hidden()


def test_a_trace_is_a_waterfall_with_span_details_and_its_logs(page_as, org_a, alice):
    send_checkout_trace(org_a.ingest_key)
    page = page_as(alice)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors = console_errors(page)

    page.goto(f"/projects/{org_a.project.pk}/traces/{TRACE}/")
    spans = page.get_by_test_id("span-row")
    expect(spans).to_have_count(10)
    expect(page.locator("#trace-title")).to_have_text("POST /api/checkout")
    summary = page.get_by_test_id("trace-summary")
    expect(summary).to_contain_text("412 ms")
    expect(summary).to_contain_text("Errors")
    # Depth-first order; children are indented under their parent.
    names = spans.locator(".wf-op").all_inner_texts()
    assert names[:4] == ["POST /api/checkout", "session.load", "checkout.place_order", "SELECT cart_items"]
    depths = [int(d) for d in spans.evaluate_all("rows => rows.map(r => r.dataset.depth)")]
    assert depths == [0, 1, 1, 2, 2, 3, 2, 3, 3, 2]
    # Bars sit where the span started, relative to the whole trace.
    charge = spans.filter(has_text="payments.charge")
    expect(charge).to_have_class("wf-row is-error")
    root_bar = spans.first.locator(".wf-bar").bounding_box()
    charge_bar = charge.locator(".wf-bar").bounding_box()
    offset = (charge_bar["x"] - root_bar["x"]) / root_bar["width"]
    assert abs(offset - 92 / 412) < 0.01
    assert abs(charge_bar["width"] / root_bar["width"] - 306 / 412) < 0.01

    logs = page.get_by_test_id("trace-log-row")
    expect(logs).to_have_count(4)
    expect(logs.nth(2)).to_contain_text("card declined: insufficient funds")
    # The level comes named by the API (each line's level_name): the page shows it as a badge.
    expect(logs.locator(".lvl")).to_have_text(["info", "warn", "error", "error"])

    charge.click()
    detail = page.get_by_test_id("span-detail")
    expect(detail).to_contain_text("status: error — card declined: insufficient funds")
    expect(detail).to_contain_text("payment.provider")
    expect(detail.locator(".spanevents li")).to_have_count(2)
    expect(detail.locator(".spanevents li").first).to_contain_text("retry")
    page.mouse.move(5, 5)
    screenshot(page, "trace-waterfall", full_page=False)

    # Untrusted attribute keys and values are text.
    spans.filter(has_text="UPDATE stock").click()
    expect(page.get_by_test_id("span-detail").locator("th", has_text=HOSTILE)).to_have_count(1)
    assert page.get_by_test_id("trace-view").locator("script").count() == 0
    assert dialogs == []

    logs_link = page.get_by_test_id("trace-logs-link")
    assert parse_qs(urlparse(logs_link.get_attribute("href")).query)["q"] == [f"trace_id:{TRACE}"]
    logs_link.click()
    expect(page.locator("#log-rows tr.logrow")).to_have_count(4)
    assert errors == []


def test_the_trace_and_its_log_lines_link_to_the_issue_of_an_error_in_the_same_trace(page_as, org_a, alice):
    send_checkout_trace(org_a.ingest_key)
    error = {
        "level": "error",
        "exception": {"values": [{"type": "CardDeclined", "value": "insufficient funds"}]},
        "contexts": {"trace": {"trace_id": TRACE, "span_id": "00f067aa0ba902b7"}},
    }
    event_store(org_a.project.pk, error, datetime.now(UTC))
    event_store(org_a.project.pk, {"message": "another trace's error"}, datetime.now(UTC))
    issue = Issue.objects.get(project=org_a.project, title__startswith="CardDeclined")
    page = page_as(alice)
    errors = console_errors(page)

    page.goto(f"/projects/{org_a.project.pk}/traces/{TRACE}/")
    links = page.get_by_test_id("trace-issue-link")
    expect(links).to_have_count(1)
    expect(links).to_have_text("CardDeclined: insufficient funds")

    page.get_by_test_id("trace-logs-link").click()
    page.locator("#log-rows tr.logrow").first.click()
    from_log = page.get_by_test_id("log-issue-link")
    expect(from_log).to_have_text("Issue: CardDeclined: insufficient funds")
    from_log.click()
    expect(page.get_by_test_id("issue-page")).to_be_visible()
    assert page.url.endswith(f"/projects/{org_a.project.pk}/issues/{issue.pk}/")
    assert errors == []


def test_collapsing_a_span_hides_its_descendants(page_as, org_a, alice):
    send_checkout_trace(org_a.ingest_key)
    page = page_as(alice)
    page.goto(f"/projects/{org_a.project.pk}/traces/{TRACE}/")
    spans = page.get_by_test_id("span-row")
    expect(spans).to_have_count(10)

    spans.filter(has_text="checkout.place_order").locator(".wf-toggle").click()
    expect(page.locator("[data-testid=span-row]:visible")).to_have_count(3)
    spans.filter(has_text="checkout.place_order").locator(".wf-toggle").click()
    expect(page.locator("[data-testid=span-row]:visible")).to_have_count(10)


def test_an_unknown_trace_id_shows_not_found_or_past_retention(page_as, org_a, bob):
    page = page_as(bob)
    errors = console_errors(page)
    page.goto(f"/projects/{org_a.project.pk}/traces/{'ab' * 16}/")
    state = page.get_by_test_id("trace-state")
    expect(state).to_contain_text("Trace not found")
    expect(state).to_contain_text("past retention")
    screenshot(page, "trace-not-found", full_page=False)
    # The browser logs the API's 404 as a failed resource; nothing else may fail.
    assert [e for e in errors if "status of 404" not in e] == []


def test_a_malformed_trace_id_is_a_clear_state_not_an_error_page(page_as, org_a, alice):
    page = page_as(alice)
    page.goto(f"/projects/{org_a.project.pk}/traces/%3Cb%3Enot-hex/")
    expect(page.get_by_test_id("trace-state")).to_contain_text("Not a trace id")
    expect(page.locator("#trace-id-text")).to_have_text("<b>not-hex")


def test_another_organizations_trace_page_is_a_404(page_as, org_a, mallory):
    send_checkout_trace(org_a.ingest_key)
    page = page_as(mallory)
    assert page.goto(f"/projects/{org_a.project.pk}/traces/{TRACE}/").status == 404
    assert page.goto(f"/projects/{org_a.project.pk}/traces/").status == 404
