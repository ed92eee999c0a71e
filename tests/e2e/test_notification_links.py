"""In Chromium: the acknowledge link of a real notification email (sent over SMTP to aiosmtpd) is
opened without a session, confirmed, and the owner's Alerts tab shows the incident acknowledged
without a reload."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from apps.alerts.models import Incident
from apps.notifications import dispatch, sender
from tests.e2e.conftest import console_errors
from tests.notifications.conftest import fire, mailbox, make_channel, make_policy, text_part  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_emails_ack_link_is_confirmed_and_the_alerts_tab_shows_it_live(
    page_as,
    browser,
    asgi_server,
    org_a,
    alice,
    mailbox,  # noqa: F811 (the fixture imported above)
    settings,
):
    settings.PUBLIC_URL = asgi_server.url
    settings.NOTIFY_ALLOW_PRIVATE_ADDRESSES = True
    make_channel(org_a.organization, "email", {"addresses": ["oncall@acme.test"]}, is_default=True)
    policy = make_policy(org_a.project, priority="P1", name="Checkout errors")
    now = datetime.now(UTC)
    fire(policy, {"service": "checkout"}, 42.0, now)

    tab = page_as(alice)
    errors = console_errors(tab)
    tab.goto(f"/projects/{org_a.project.pk}/alerts/")
    incident_row = tab.get_by_test_id("incident-row").filter(has_text="Checkout errors")
    expect(incident_row).to_have_attribute("data-state", "firing")
    expect(tab.get_by_test_id("alerts-page")).to_have_attribute("data-live", "live")
    tab.evaluate("window.__same_page = true")

    dispatch.transitions_dispatch(now)
    dispatch.groups_flush(now)
    sender.send_due(now=now)
    (mail,) = mailbox.messages
    link = re.search(r"Acknowledge: (\S+)", text_part(mail, "plain")).group(1)
    assert link.startswith(asgi_server.url + "/notify/action/")

    anonymous = browser.new_context(base_url=asgi_server.url)
    try:
        confirm = anonymous.new_page()
        confirm.goto(link)
        expect(confirm.get_by_role("heading")).to_have_text("Acknowledge?")
        assert Incident.objects.get().acknowledged_at is None  # opening the link did nothing
        confirm.get_by_role("button", name="Acknowledge").click()
        expect(confirm.get_by_role("heading")).to_have_text("Done")
    finally:
        anonymous.close()

    expect(incident_row).to_have_attribute("data-state", "acknowledged")
    assert tab.evaluate("window.__same_page") is True
    assert Incident.objects.get().acknowledged_at is not None
    assert errors == []
