"""Browser fixtures: Debian's Chromium driven by Playwright against the live test server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import missing_tool

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
TELEMETRY_TABLES = (
    "logs_event",
    "traces_span",
    "metrics_point",
    "metrics_series",
    "metrics_rollup_1m",
    "metrics_rollup_1h",
    "logs_count_1m",
    "logs_count_level_1m",
    "logs_count_service_1h",
)


@pytest.fixture(autouse=True)
def _drop_telemetry(request: pytest.FixtureRequest) -> Iterator[None]:
    """Telemetry tables are not Django models: the transactional flush leaves their rows behind, so
    they are deleted here, and this process's memories of partitions and series ids with them."""
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    from django.db import connection

    from apps.dashboards import live
    from apps.metrics.storage import forget_series
    from apps.projects.models import Project
    from apps.storage import partitions

    partitions.forget_partitions()
    forget_series()
    ids = set(Project.objects.values_list("pk", flat=True))
    yield
    live.drain()
    ids |= set(Project.objects.values_list("pk", flat=True))
    with connection.cursor() as cursor:
        for table in TELEMETRY_TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE project_id = ANY(%s)", [list(ids)])


# Package scope: while Playwright's sync API is open it owns this thread's event loop, and tests
# elsewhere that call asyncio.run() (Channels, async clients) would fail.
@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    # Playwright's sync API runs an event loop in this thread; the test's ORM calls are still synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            if Path(CHROMIUM_PATH).exists():
                instance = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
            else:
                instance = playwright.chromium.launch(args=CHROMIUM_ARGS)
        except Error as error:
            missing_tool(f"no Chromium: install Debian's chromium (CI does) or set CHROMIUM_PATH ({error})")
        yield instance
        instance.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def screenshot(page, name: str, full_page: bool = True) -> None:
    """tests/artifacts/<name>.png at the page's 1280x800 viewport (or the whole scrolling page)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def console_errors(page) -> list[str]:
    """Collects uncaught errors and console errors (CSP violations among them) as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def on_console(message) -> None:
        # /health (where page_as sets the cookie) has no icon link: Chromium's favicon probe 404s.
        url = message.location.get("url", "")
        if message.type == "error" and not url.endswith("/favicon.ico"):
            errors.append(f"{message.text} ({url})")

    page.on("console", on_console)
    return errors


# --- Pages that need the real ASGI server (WebSockets, live updates) ------------------------------
# pytest-django's live_server is WSGI-only; dashboards open /ws/projects/{id}/live/, so their tests
# run against uvicorn on the test database (the tests must use django_db(transaction=True) so the
# server process sees their rows).


@pytest.fixture(scope="package")
def asgi_server(django_db_setup, django_db_blocker):
    from tests.ingestion.server import Server

    server = Server()
    yield server
    server.stop()


def session_cookie_for(user) -> str:
    """A `name=value` session cookie that signs `user` in (a real session row, as a login makes)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.fixture
def page_as(browser, asgi_server):
    """page_as(user) -> a 1280x800 page on the ASGI server, signed in as `user`."""
    contexts = []

    def open_page(user):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=asgi_server.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        # Production settings name the cookie __Host-sessionid, which must be Secure and host-only;
        # CDP refuses to set such a cookie for an http URL, but the page itself may (Chromium treats
        # http://127.0.0.1 as a secure context).
        page.goto("/health")
        cookie = session_cookie_for(user)
        page.evaluate("c => { document.cookie = c + '; Path=/; Secure; SameSite=Lax'; }", cookie)
        return page

    yield open_page
    for context in contexts:
        context.close()


def sign_up_with_ingest_key(page, email: str, password: str, organization: str) -> tuple[int, str]:
    """A new team's first minute through the UI: sign up, create a project "shop", create an
    ingest key. Returns (project id, the key's secret as shown once)."""
    import re

    page.goto("/signup/")
    page.fill("#id_email", email)
    page.fill("#id_password", password)
    page.fill("#id_organization", organization)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/orgs/\d+/$"))
    page.fill("#id_name", "shop")
    page.click("[data-testid=create-project]")
    page.wait_for_url(re.compile(r"/projects/\d+/settings/$"))
    project_id = int(re.search(r"/projects/(\d+)/", page.url).group(1))
    page.select_option("#id_scope", "ingest")
    page.fill("#id_name", "shop service")
    page.click("[data-testid=create-key]")
    return project_id, page.inner_text("[data-testid=new-secret]").strip()


def acknowledged_sdk_export(script: str, server_url: str, ingest_key: str, *args: str) -> float:
    """Run an OpenTelemetry SDK `script` in its own interpreter (the SDK's global providers must
    not leak into the test process), configured only by the standard OTEL_* variables, and return
    the epoch time at which its exports were acknowledged (the script prints it as JSON)."""
    import json
    import subprocess
    import sys

    sender = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": server_url,
            "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{ingest_key}",
            "OTEL_SERVICE_NAME": "shop",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # The SDK never raises on a refused export; it logs it. A refusal is this test's failure, said.
    assert "Failed to export" not in sender.stderr, sender.stderr
    return float(json.loads(sender.stdout)["acknowledged_at"])
