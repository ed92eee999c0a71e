"""Each transport against a real local receiver: email over SMTP (aiosmtpd), Slack Block Kit,
PagerDuty Events v2 through an incident's whole life."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from apps.alerts.incidents import incident_acknowledge, incident_resolve
from apps.alerts.models import Incident
from apps.notifications import dispatch, sender
from apps.notifications.models import Delivery, DeliveryState
from tests.notifications.conftest import calm, fire, make_channel, make_policy, text_part

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def run(now: datetime) -> None:
    dispatch.transitions_dispatch(now)
    dispatch.groups_flush(now)
    sender.send_due(now=now)


def test_email_has_text_and_html_with_every_value_escaped(org_a, mailbox):
    make_channel(
        org_a.organization, "email", {"addresses": ["ops@acme.test", "oncall@acme.test"]}, is_default=True
    )
    policy = make_policy(org_a.project, priority="P1", runbook_url="https://runbooks.example.com/api")
    with time_machine.travel(T0, tick=False):
        fire(policy, {"service": "<script>alert(1)</script>"}, 42.0, T0)
        run(T0)

    (mail,) = mailbox.messages
    html, text = text_part(mail, "html"), text_part(mail, "plain")
    assert mail["X-Envelope-To"] == "ops@acme.test, oncall@acme.test"
    assert mail["Subject"] == "[FIRING] API errors"
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "service=<script>alert(1)</script>: 42.0 > 10.0" in text  # plain text is not HTML
    assert "https://runbooks.example.com/api" in text
    assert "https://vigil.example.com/notify/action/" in html  # the one-click links
    incident = Incident.objects.get()
    assert f"https://vigil.example.com/projects/{org_a.project.pk}/alerts/incidents/{incident.pk}/" in text


def test_email_to_a_role_reaches_its_members_and_those_above(org_a, bob, mailbox):
    make_channel(org_a.organization, "email", {"role": "viewer"}, is_default=True)
    policy = make_policy(org_a.project, priority="P1")
    with time_machine.travel(T0, tick=False):
        fire(policy, {}, 42.0, T0)
        run(T0)
    (mail,) = mailbox.messages
    assert sorted(mail["X-Envelope-To"].split(", ")) == ["alice@acme.test", "bob@acme.test"]


def test_slack_gets_block_kit_with_a_text_fallback_and_buttons(org_a, receiver):
    make_channel(org_a.organization, "slack", {"url": receiver.url + "/services/T/B/X"}, is_default=True)
    policy = make_policy(org_a.project, priority="P1")
    with time_machine.travel(T0, tick=False):
        fire(policy, {"service": "api<@U123>"}, 42.0, T0)
        run(T0)

    message = receiver.requests[0].json()
    kinds = [block["type"] for block in message["blocks"]]
    assert kinds[0] == "header" and "section" in kinds and kinds[-1] == "actions"
    assert message["text"].startswith("[FIRING] API errors")
    buttons = {b["text"]["text"]: b["url"] for b in message["blocks"][-1]["elements"]}
    assert {"Open incident", "Acknowledge", "Silence 1 h"} <= set(buttons)
    assert buttons["Open incident"].startswith("https://vigil.example.com/projects/")
    fields = " ".join(f["text"] for block in message["blocks"] for f in block.get("fields", []))
    assert "api&lt;@U123&gt;" in fields and "<@U123>" not in fields  # no forged mention


def test_pagerduty_follows_the_incident_trigger_acknowledge_resolve_with_one_dedup_key(
    org_a, alice, receiver
):
    make_channel(
        org_a.organization,
        "pagerduty",
        {"routing_key": "R0UTE", "events_url": receiver.url + "/v2/enqueue"},
        is_default=True,
    )
    receiver.default.status = 202
    policy = make_policy(org_a.project, priority="P2", name="x" * 150)
    with time_machine.travel(T0, tick=False) as clock:
        fire(policy, {"service": "api"}, 42.0, T0)
        run(T0)  # PagerDuty deliveries are not held for group_wait
        incident = Incident.objects.get()
        clock.shift(60)
        incident_acknowledge(incident, alice)
        run(T0 + timedelta(seconds=60))
        clock.shift(60)
        incident_resolve(incident, alice)
        run(T0 + timedelta(seconds=120))

    trigger, ack, resolve = (r.json() for r in receiver.requests)
    assert [e["event_action"] for e in (trigger, ack, resolve)] == ["trigger", "acknowledge", "resolve"]
    assert trigger["dedup_key"] == ack["dedup_key"] == resolve["dedup_key"]
    assert trigger["routing_key"] == "R0UTE"
    assert trigger["payload"]["severity"] == "error"
    assert trigger["payload"]["source"] == "Acme web/api"
    assert len(trigger["payload"]["summary"]) <= 1024
    assert trigger["payload"]["custom_details"]["value"] == 42.0
    assert trigger["payload"]["custom_details"]["labels"] == {"service": "api"}
    assert any(link["href"].startswith("https://vigil.example.com/") for link in trigger["links"])
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}


def test_pagerduty_severity_follows_priority(org_a, receiver):
    make_channel(
        org_a.organization, "pagerduty", {"routing_key": "R", "events_url": receiver.url}, is_default=True
    )
    receiver.default.status = 202
    for priority in ("P1", "P3", "P4"):
        policy = make_policy(org_a.project, priority=priority, name=priority)
        fire(policy, {}, 42.0, T0)
    run(T0)
    severities = {
        r.json()["payload"]["component"]: r.json()["payload"]["severity"] for r in receiver.requests
    }
    assert severities == {"P1": "critical", "P3": "warning", "P4": "info"}


def test_a_resolved_notice_follows_the_firing_one(org_a, receiver):
    make_channel(org_a.organization, "webhook", {"url": receiver.url}, is_default=True)
    policy = make_policy(org_a.project, priority="P1")
    with time_machine.travel(T0, tick=False) as clock:
        fire(policy, {}, 42.0, T0)
        run(T0)
        clock.shift(120)
        calm(policy, {}, 1.0, T0 + timedelta(seconds=120))
        run(T0 + timedelta(seconds=120))
        assert len(receiver.requests) == 1  # group_interval (5 m) since the last message
        clock.shift(180)
        run(T0 + timedelta(seconds=300))
    assert [r.json()["type"] for r in receiver.requests] == ["alert.firing", "alert.resolved"]


def test_slack_is_sent_at_most_one_message_a_second_and_nothing_is_dropped(org_a, receiver):
    make_channel(org_a.organization, "slack", {"url": receiver.url}, is_default=True)
    for n in range(3):
        fire(make_policy(org_a.project, priority="P1", name=f"policy {n}"), {}, 42.0, T0)
    with time_machine.travel(T0, tick=False) as clock:
        run(T0)
        assert len(receiver.requests) == 1
        assert Delivery.objects.filter(state=DeliveryState.PENDING, attempts=0).count() == 2
        clock.shift(1)
        run(T0 + timedelta(seconds=1))
        assert len(receiver.requests) == 2
        clock.shift(1)
        run(T0 + timedelta(seconds=2))
    assert len(receiver.requests) == 3
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}
