"""static/js/live.js in Chromium: when the server drops the socket, the page shows it, reconnects on
its own, resumes from the last event it saw and delivers every line exactly once."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.dashboards.live_client import forget_live_state
from tests.e2e.conftest import ARTIFACTS, screenshot
from tests.ingestion.conftest import post_json_to

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The page's own API (VigilLive.connect) records what a page would be handed.
RECORDER = """() => {
  window.seen = []; window.statuses = []; window.gaps = 0; window.tails = [];
  window.live = VigilLive.connect(Vigil.projectId(), {
    onEvent: (event) => window.seen.push(event),
    onStatus: (status) => window.statuses.push(status),
    onGap: () => { window.gaps += 1; },
    onTail: (frame) => window.tails.push(frame),
  });
  window.live.setTail("");
}"""


def wait_until(page, expression: str, timeout: float = 10) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        page.wait_for_timeout(50)
    raise AssertionError(f"still false after {timeout}s: {expression}")


def lines_seen(page) -> list[str]:
    return page.evaluate("() => window.seen.flatMap((e) => (e.lines || []).map((line) => line.message))")


def test_the_page_reconnects_after_the_server_drops_it_and_resumes_without_duplicates(
    page_as, asgi_server, org_a, alice
):
    forget_live_state(org_a.project.pk)
    errors: list[str] = []
    page = page_as(alice)
    # (Chromium asks for /favicon.ico after page_as's first, icon-less page: not this page's doing.)
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.location["url"].endswith("/favicon.ico")
            else None
        ),
    )
    sockets = []

    def route(socket) -> None:
        server = socket.connect_to_server()
        sockets.append((socket, server))

    page.route_web_socket(re.compile(r"/ws/projects/\d+/live/"), route)
    page.goto(f"/projects/{org_a.project.pk}/traces/")
    page.evaluate(RECORDER)
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "live")
    expect(status).to_contain_text("Live")

    def send(*messages: str) -> None:
        post_json_to(
            asgi_server.url, "/api/v1/ingest/logs", [{"message": m} for m in messages], org_a.ingest_key
        )

    # Lines are built only once the server has answered the tail (apps.dashboards.live): logs sent
    # before that arrive as a count of omitted lines, as they would to any page.
    wait_until(page, "() => window.tails.some((frame) => frame.ok && frame.q === '')")
    send("before 1", "before 2")
    wait_until(page, "() => window.seen.some((e) => (e.lines || []).length)")
    urls = [socket.url for socket, _ in sockets]

    # The server goes away (a deploy, a crashed worker): every socket of the page is dropped.
    for socket, server in sockets:
        socket.close(code=1012, reason="service restart")
        server.close()
    expect(status).to_have_attribute("data-state", "reconnecting")
    page.locator("nav.projectnav").screenshot(path=str(ARTIFACTS / "live-status-reconnecting.png"))
    send("while away 1")
    send("while away 2")
    wait_until(page, "() => window.statuses.filter((s) => s === 'live').length >= 2")
    send("after")
    wait_until(page, "() => window.seen.flatMap((e) => e.lines || []).some((l) => l.message === 'after')")
    page.wait_for_timeout(500)
    screenshot(page, "live-reconnected")

    assert lines_seen(page) == ["before 1", "before 2", "while away 1", "while away 2", "after"]
    ids = [int(i) for i in page.evaluate("() => window.seen.map((e) => e.id)")]
    assert ids == sorted(set(ids))
    resumed = [socket.url for socket, _ in sockets if socket.url not in urls]
    assert any("after=" in url and "tail=" in url for url in resumed), resumed
    assert page.evaluate("() => window.gaps") == 0
    expect(status).to_have_attribute("data-state", "live")
    assert errors == []
