"""/api/docs/ opens in a browser: Swagger UI from our own static files, under our own CSP."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.e2e.conftest import console_errors, screenshot


def test_the_api_docs_list_every_operation_with_no_csp_violation_and_no_outside_request(page, live_server):
    errors = console_errors(page)
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))

    response = page.goto("/api/docs/")

    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    page.wait_for_selector(".opblock-summary-path")
    paths = set(page.locator(".opblock-summary-path").all_inner_texts())
    for path in ("/v1/logs", "/v1/traces", "/api/v1/ingest/logs", "/api/v1/ingest/metrics", "/api/v1/orgs/"):
        assert any(shown.replace("\u200b", "") == path for shown in paths), (path, paths)
    page.locator(".opblock-summary-path", has_text="/api/v1/ingest/logs").first.click()
    page.wait_for_selector("text=A JSON array of log records")
    screenshot(page, "api-docs")
    assert errors == []
    assert hosts == {urlsplit(live_server.url).netloc}
