import re

import pytest

from apps.projects.models import ApiKey
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "erin@example.test"
PASSWORD = "erin-has-a-long-passphrase"


@pytest.fixture
def asgi_page(browser, asgi_server):
    """The org home is a live page (its socket, /ws/orgs/{id}/live/): served by the ASGI server."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=asgi_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def test_sign_up_create_project_and_key_then_log_out_and_in_again(asgi_page):
    page = asgi_page
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    page.goto("/signup/")
    screenshot(page, "signup")
    page.fill("#id_email", EMAIL)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_organization", "Erin Labs")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/orgs/\d+/$"))
    assert "Erin Labs" in page.inner_text("header")

    page.fill("#id_name", "checkout")
    page.click("[data-testid=create-project]")
    page.wait_for_url(re.compile(r"/projects/\d+/settings/$"))
    page.select_option("#id_scope", "ingest")
    page.fill("#id_name", "checkout service")
    page.click("[data-testid=create-key]")
    secret = page.inner_text("[data-testid=new-secret]").strip()
    screenshot(page, "project-new-key")

    assert secret.startswith("vgl_ingest_")
    key = ApiKey.objects.get(name="checkout service")
    assert secret not in (key.secret_hash, key.prefix)

    # The key is shown once: afterwards only its masked form.
    page.goto(f"/projects/{key.project_id}/settings/")
    assert page.locator("[data-testid=new-secret]").count() == 0
    assert secret not in page.content()
    assert key.masked in page.inner_text("[data-testid=key-table]")

    page.click("[data-testid=logout]")
    page.wait_for_url(re.compile(r"/login/"))
    page.goto("/")
    assert "/login/" in page.url

    page.fill("#id_username", EMAIL.upper())
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/orgs/\d+/$"))
    assert page.locator("[data-testid=project-card]").inner_text().startswith("checkout")
    screenshot(page, "organization")
    assert errors == []  # no CSP violation, no script error


def test_form_errors_are_shown_next_to_the_field(page, alice):
    page.goto("/signup/")
    page.fill("#id_email", "alice@acme.test")
    page.fill("#id_password", "short")
    page.fill("#id_organization", "Dup")
    page.click("button[type=submit]")

    assert "already exists" in page.inner_text(".has-error")
    assert page.locator(".field.has-error").count() == 2
    screenshot(page, "signup-errors")
