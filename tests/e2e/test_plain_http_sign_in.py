"""Signing in to a stack opened at http://<another host> — a non-secure origin for the browser,
unlike http://127.0.0.1 — in real Chromium: never a bare 403, and it works with ALLOW_PLAIN_HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.e2e.conftest import CHROMIUM_ARGS, CHROMIUM_PATH, console_errors, screenshot

LAN_NAME = "vigil-lan.test"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def lan_browser(browser) -> Iterator[object]:
    """Chromium resolving vigil-lan.test to loopback: a host name that is not localhost, as a LAN
    address is, so the browser treats plain HTTP there as insecure and keeps Secure cookies back."""
    arguments = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {LAN_NAME} 127.0.0.1"]
    executable = CHROMIUM_PATH if Path(CHROMIUM_PATH).exists() else None
    instance = browser.browser_type.launch(executable_path=executable, args=arguments)
    yield instance
    instance.close()


@pytest.fixture
def lan_page(lan_browser, live_server, settings) -> Iterator[Callable[[], object]]:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, LAN_NAME]
    port = live_server.url.rsplit(":", 1)[1]
    contexts = []

    def open_page():
        context = lan_browser.new_context(base_url=f"http://{LAN_NAME}:{port}")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page, email: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def test_signing_in_over_plain_http_from_another_host_explains_what_to_do(lan_page, alice):
    page = lan_page()
    errors = console_errors(page)

    sign_in(page, alice.email)

    explanation = page.locator("[data-testid=csrf-failure]")
    assert "Signing in needs HTTPS here" in explanation.inner_text()
    assert "ALLOW_PLAIN_HTTP=true" in explanation.inner_text()
    screenshot(page, "plain-http-sign-in")
    # (Chromium notes that COOP is ignored on an untrustworthy origin and logs the 403 itself.)
    assert not [error for error in errors if "Content Security Policy" in error]


def test_with_plain_http_allowed_signing_in_from_another_host_works(lan_page, alice, settings):
    # What ALLOW_PLAIN_HTTP=true sets (tests/ops/test_csrf_failure.py reads it from the environment).
    settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME = "sessionid", "csrftoken"
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    page = lan_page()

    sign_in(page, alice.email)

    page.wait_for_url(re.compile(r"/orgs/\d+/$"))
    assert page.locator("[data-testid=project-card]").count() == 1
