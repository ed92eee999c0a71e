"""Notification trouble and quieting shown live, in Chromium on the ASGI server (issue 17 §4, §8):
a delivery the receiver refuses appears on the Alerts tab's notifications card and on the
organization's channel list without a reload; a silence made elsewhere marks the incident as
silenced on the Alerts tab and on the incident page, which still show it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from apps.alerts.models import Incident
from apps.dashboards import live
from apps.notifications import dispatch, sender
from apps.notifications.silences import silence_incident
from tests.e2e.conftest import console_errors, screenshot
from tests.notifications.conftest import fire, make_channel, make_policy, receiver  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_refused_delivery_shows_on_the_alerts_tab_and_the_channel_list_live(
    page_as,
    org_a,
    alice,
    receiver,  # noqa: F811 (the fixture imported above)
    settings,
):
    settings.NOTIFY_ALLOW_PRIVATE_ADDRESSES = True
    channel = make_channel(
        org_a.organization, "webhook", {"url": receiver.url}, name="ops hook", is_default=True
    )
    now = datetime.now(UTC)
    fire(make_policy(org_a.project, priority="P1", name="Checkout errors"), {}, 42.0, now)

    tab = page_as(alice)
    tab_errors = console_errors(tab)
    tab.goto(f"/projects/{org_a.project.pk}/alerts/")
    expect(tab.get_by_test_id("alerts-page")).to_have_attribute("data-live", "live")
    expect(tab.get_by_test_id("channel-warning")).to_have_count(0)
    channels = page_as(alice)
    channels_errors = console_errors(channels)
    channels.goto(f"/orgs/{org_a.organization.pk}/channels/")
    expect(channels.locator("#channels-page")).to_have_attribute("data-live", "live")
    row = channels.get_by_test_id("channel-row").filter(has_text="ops hook")
    expect(row.get_by_test_id("channel-warning")).to_have_count(0)
    for page in (tab, channels):
        page.evaluate("window.__same_page = true")

    receiver.answer(400, "unknown field")  # permanent: given up at once, the channel warned
    dispatch.transitions_dispatch(now)
    dispatch.groups_flush(now)
    assert sender.send_due(now=now) == 1
    live.drain()

    card = tab.get_by_test_id("notification-status")
    expect(card.get_by_test_id("channel-warning")).to_contain_text("ops hook")
    expect(card.get_by_test_id("failed-delivery")).to_contain_text("Checkout errors")
    expect(card.get_by_test_id("failed-delivery")).to_contain_text("HTTP 400")  # an admin sees why
    expect(row.get_by_test_id("channel-warning")).to_contain_text("could not be delivered")
    expect(channels.get_by_test_id("deliveries")).to_contain_text("failed")
    for page in (tab, channels):
        assert page.evaluate("window.__same_page") is True
    screenshot(channels, "channels-warning-live", full_page=False)
    assert channel.pk and tab_errors == [] and channels_errors == []


def test_a_silence_marks_the_incident_silenced_where_it_is_shown(page_as, org_a, alice, bob):
    policy = make_policy(org_a.project, priority="P1", name="Checkout errors")
    fire(policy, {"service": "checkout"}, 42.0, datetime.now(UTC))
    incident = Incident.objects.get()

    tab = page_as(bob)  # a viewer sees the mark too
    errors = console_errors(tab)
    tab.goto(f"/projects/{org_a.project.pk}/alerts/")
    incident_row = tab.get_by_test_id("incident-row").filter(has_text="Checkout errors")
    expect(incident_row).to_have_attribute("data-quiet", "")
    expect(tab.get_by_test_id("alerts-page")).to_have_attribute("data-live", "live")
    page = page_as(alice)
    page.goto(f"/projects/{org_a.project.pk}/alerts/incidents/{incident.pk}/")
    expect(page.get_by_test_id("incident-page")).to_have_attribute("data-live", "live")
    expect(page.get_by_test_id("incident-quiet")).to_be_hidden()

    silence_incident(incident, 1, alice, datetime.now(UTC) - timedelta(seconds=1))
    live.drain()

    expect(incident_row).to_have_attribute("data-quiet", "silenced")
    expect(incident_row).to_have_attribute("data-state", "firing")  # still shown, still firing
    expect(incident_row.get_by_test_id("quiet")).to_have_text("silenced")
    policy_row = tab.get_by_test_id("policy-row").filter(has_text="Checkout errors")
    expect(policy_row).to_have_attribute("data-quiet", "silenced")
    expect(page.get_by_test_id("incident-quiet")).to_have_text("silenced")
    expect(page.get_by_test_id("incident-state")).to_have_text("firing")
    assert errors == []
