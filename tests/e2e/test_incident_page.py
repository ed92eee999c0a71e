"""The incident page in Chromium on the ASGI server: a policy fires on logs sent through the real
ingestion path and a real evaluation; the notification email reaches aiosmtpd; a member opens
its acknowledge link, confirms, and lands on the incident page — while the page already open in
another window shows it acknowledged without a reload. The page shows the value chart with the
threshold and the firing period, the matching log lines, labels and runbook."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from apps.alerts.models import Incident, Policy
from apps.alerts.services import policy_create
from apps.alerts.tasks import evaluate_policy
from apps.dashboards import live
from apps.notifications import dispatch, sender
from apps.projects.models import Role
from tests.alerts.conftest import log
from tests.conftest import make_member
from tests.e2e.conftest import console_errors, screenshot
from tests.notifications.conftest import mailbox, make_channel, text_part  # noqa: F401
from tests.telemetry import ingest_logs as ingest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def firing_policy(org_a) -> Policy:
    policy = policy_create(
        org_a.project,
        {
            "name": "Checkout errors",
            "kind": "log_count",
            "spec": {"query": "level>=error", "group_by": "service"},
            "op": ">",
            "threshold": 2.0,
            "priority": "P1",
            "labels": {"team": "payments"},
            "runbook_url": "https://runbooks.example.com/checkout",
        },
        actor=None,
    )
    now = datetime.now(UTC)
    lines = [log(0.5, now, f"card declined for order {n}", service="checkout") for n in range(3)]
    ingest(org_a.ingest_key, lines)
    assert evaluate_policy(policy.pk) == 1
    live.drain()
    return policy


def test_a_members_ack_from_an_email_shows_live_on_the_open_incident_page(
    page_as,
    asgi_server,
    org_a,
    alice,
    mailbox,  # noqa: F811 (the fixture imported above)
    settings,
):
    settings.PUBLIC_URL = asgi_server.url
    settings.NOTIFY_ALLOW_PRIVATE_ADDRESSES = True
    mia = make_member(org_a.organization, "mia@acme.test", Role.MEMBER)
    make_channel(org_a.organization, "email", {"addresses": ["oncall@acme.test"]}, is_default=True)
    firing_policy(org_a)
    incident = Incident.objects.get()

    watcher = page_as(alice)
    errors = console_errors(watcher)
    watcher.goto(f"/projects/{org_a.project.pk}/alerts/incidents/{incident.pk}/")
    expect(watcher.get_by_test_id("incident-state")).to_have_text("firing")
    expect(watcher.get_by_test_id("incident-page")).to_have_attribute("data-live", "live")
    expect(watcher.get_by_test_id("incident-labels")).to_contain_text("service=checkout")
    expect(watcher.get_by_test_id("incident-labels")).to_contain_text("team=payments")
    expect(watcher.get_by_test_id("incident-runbook")).to_contain_text(
        "https://runbooks.example.com/checkout"
    )
    expect(watcher.get_by_test_id("evidence-line")).to_have_count(3)
    expect(watcher.get_by_test_id("evidence-line").first).to_contain_text("card declined for order")
    timeline = watcher.get_by_test_id("timeline-row")
    expect(timeline).to_have_count(1)
    expect(timeline.first).to_have_attribute("data-to", "firing")
    chart = watcher.get_by_test_id("incident-chart")
    expect(chart).to_have_attribute("data-threshold", "2")
    expect(chart).to_have_attribute("data-firing", "1")  # the backtest fires where the policy did
    watcher.evaluate("window.__same_page = true")

    dispatch.transitions_dispatch()
    dispatch.groups_flush()
    sender.send_due()
    (mail,) = mailbox.messages
    text = text_part(mail, "plain")
    assert f"{asgi_server.url}/projects/{org_a.project.pk}/alerts/incidents/{incident.pk}/" in text
    link = re.search(r"Acknowledge: (\S+)", text).group(1)

    member = page_as(mia)
    member.goto(link)
    expect(member.get_by_role("heading", name="Acknowledge?")).to_be_visible()
    assert Incident.objects.get().acknowledged_at is None  # opening the link did nothing
    member.get_by_role("button", name="Acknowledge").click()
    member.wait_for_url(re.compile(rf"/alerts/incidents/{incident.pk}/\?done=ack$"))
    expect(member.get_by_test_id("incident-state")).to_have_text("acknowledged")
    expect(member.get_by_test_id("incident-notice")).to_contain_text("Acknowledged")

    expect(watcher.get_by_test_id("incident-state")).to_have_text("acknowledged")
    expect(watcher.get_by_test_id("incident-acked")).to_contain_text("mia@acme.test")
    expect(timeline).to_have_count(2)
    expect(timeline.last).to_have_attribute("data-to", "acknowledged")
    expect(watcher.get_by_test_id("incident-ack")).to_be_hidden()
    assert watcher.evaluate("window.__same_page") is True
    screenshot(watcher, "incident-acknowledged")
    assert Incident.objects.get().acknowledged_by == mia
    assert errors == []


def test_a_member_silences_the_incident_for_an_hour_and_a_viewer_has_no_buttons(page_as, org_a, bob):
    from apps.notifications.models import Silence

    firing_policy(org_a)
    incident = Incident.objects.get()
    mia = make_member(org_a.organization, "mia@acme.test", Role.MEMBER)
    url = f"/projects/{org_a.project.pk}/alerts/incidents/{incident.pk}/"

    member = page_as(mia)
    errors = console_errors(member)
    member.goto(url)
    member.get_by_test_id("incident-silence-hour").click()
    expect(member.get_by_test_id("incident-notice")).to_contain_text("Silenced until")
    silence = Silence.objects.get()
    assert silence.policy_id == incident.policy_id
    assert {"name": "service", "op": "=", "value": "checkout"} in silence.matchers
    assert 59 * 60 < (silence.ends_at - silence.starts_at).total_seconds() <= 3600

    viewer = page_as(bob)
    viewer.goto(url)
    expect(viewer.get_by_test_id("incident-state")).to_have_text("firing")
    expect(viewer.get_by_test_id("incident-actions")).to_have_count(0)
    assert errors == []
