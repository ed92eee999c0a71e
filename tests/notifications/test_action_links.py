"""Signed one-click links: a confirmation page first, one use, 24 hours, bound to their incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from django.test import Client

from apps.alerts.models import Incident, Transition
from apps.notifications import links
from apps.notifications.models import Silence
from tests.notifications.conftest import fire, make_policy

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_following_the_link_only_asks_and_the_confirmation_acknowledges_once(org_a):
    policy = make_policy(org_a.project, priority="P1")
    fire(policy, {"service": "api"}, 42.0, T0)
    incident = Incident.objects.get()
    path = links.action_path(incident.pk, links.ACK)
    anonymous = Client()

    page = anonymous.get(path)

    assert page.status_code == 200
    assert "Acknowledge?" in page.content.decode()
    assert Incident.objects.get().acknowledged_at is None  # a mail scanner's GET does nothing

    done = anonymous.post(path)

    assert done.status_code == 200
    assert Incident.objects.get().acknowledged_at is not None
    assert Transition.objects.filter(to_state="acknowledged").count() == 1
    again = anonymous.post(path)
    assert again.status_code == 410
    assert "already been used" in again.content.decode()


def test_a_link_expires_after_24_hours(org_a):
    policy = make_policy(org_a.project, priority="P1")
    fire(policy, {}, 42.0, T0)
    incident = Incident.objects.get()
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        path = links.action_path(incident.pk, links.ACK)
        clock.shift(timedelta(hours=24, seconds=1))
        response = Client().post(path)
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert Incident.objects.get().acknowledged_at is None


def test_a_tampered_link_is_refused(org_a):
    policy = make_policy(org_a.project, priority="P1")
    fire(policy, {}, 42.0, T0)
    incident = Incident.objects.get()
    token = links.action_token(incident.pk, links.ACK)
    forged = token.replace(f"{incident.pk}:ack", f"{incident.pk + 1}:ack")

    response = Client().post(f"/notify/action/{forged}")

    assert response.status_code == 410
    assert Incident.objects.get().acknowledged_at is None


def test_the_silence_link_silences_the_incidents_labels_for_an_hour(org_a):
    policy = make_policy(org_a.project, priority="P1")
    fire(policy, {"service": "api"}, 42.0, T0)
    incident = Incident.objects.get()

    response = Client().post(links.action_path(incident.pk, links.SILENCE))

    assert response.status_code == 200
    silence = Silence.objects.get()
    assert silence.policy_id == policy.pk
    assert silence.matchers == [{"name": "service", "op": "=", "value": "api"}]
    assert timedelta(minutes=59) < silence.ends_at - silence.starts_at <= timedelta(hours=1)


def test_acknowledging_a_resolved_incident_says_so(org_a, alice):
    from apps.alerts.incidents import incident_resolve

    policy = make_policy(org_a.project, priority="P1")
    fire(policy, {}, 42.0, T0)
    incident = Incident.objects.get()
    path = links.action_path(incident.pk, links.ACK)
    incident_resolve(incident, alice)

    response = Client().post(path)

    assert response.status_code == 409
    assert "resolved" in response.content.decode()


def test_a_signed_in_member_lands_on_the_incident_page_after_confirming(org_a, alice):
    from tests.conftest import client_for

    policy = make_policy(org_a.project, priority="P1")
    fire(policy, {"service": "api"}, 42.0, T0)
    incident = Incident.objects.get()

    response = client_for(alice).post(links.action_path(incident.pk, links.ACK))

    assert response.status_code == 302
    assert response["Location"] == f"/projects/{org_a.project.pk}/alerts/incidents/{incident.pk}/?done=ack"
    assert Incident.objects.get().acknowledged_by == alice


def test_the_done_page_without_a_session_links_to_the_incident(org_a):
    policy = make_policy(org_a.project, priority="P1")
    fire(policy, {"service": "api"}, 42.0, T0)
    incident = Incident.objects.get()

    done = Client().post(links.action_path(incident.pk, links.ACK))

    assert done.status_code == 200
    assert f'href="/projects/{org_a.project.pk}/alerts/incidents/{incident.pk}/"' in done.content.decode()
