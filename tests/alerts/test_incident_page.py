"""The incident page: what fired and why (labels, runbook, the log lines that matched, as stored),
with ack / resolve / silence for members only; the rest (state, timeline, chart) is filled by
static/js/incident.js from the API and checked in tests/e2e/test_incident_page.py."""

from __future__ import annotations

import pytest
import time_machine

from apps.alerts.models import Incident
from tests.alerts.conftest import BASE, evaluate, log, make_policy
from tests.conftest import client_for
from tests.telemetry import ingest_logs as ingest

pytestmark = pytest.mark.django_db


def fired(org_a, **fields):
    policy = make_policy(
        org_a.project,
        "log_count",
        {"query": "level>=error", "group_by": "service"},
        name="Checkout errors",
        runbook_url="https://runbooks.example.com/checkout",
        labels={"team": "payments"},
        **fields,
    )
    with time_machine.travel(BASE, tick=False):
        ingest(
            org_a.ingest_key,
            [
                log(1, BASE, "card declined for order 17", service="checkout"),
                log(2, BASE, "card declined for order 18", service="checkout"),
                log(1, BASE, "search index stale", service="search", level="warn"),
                log(1, BASE, "inventory timeout", service="inventory"),
            ],
        )
        evaluate(policy, BASE)
    return Incident.objects.get(policy=policy, labels__service="checkout")


def page_of(client, incident):
    return client.get(f"/projects/{incident.project_id}/alerts/incidents/{incident.pk}/")


def test_it_shows_labels_runbook_and_the_lines_that_matched_its_group(org_a, alice):
    incident = fired(org_a)

    response = page_of(client_for(alice), incident)

    assert response.status_code == 200
    body = response.content.decode()
    assert "Checkout errors (service=checkout)" in body
    assert "team=payments" in body and "service=checkout" in body
    assert 'href="https://runbooks.example.com/checkout"' in body
    lines = [r["message"] for r in response.context["evidence"].records]
    assert lines == ["card declined for order 17", "card declined for order 18"]  # newest first
    assert "inventory timeout" not in body  # another group's line
    assert 'data-testid="incident-ack"' in body


def test_a_viewer_sees_it_without_the_buttons(org_a, bob):
    incident = fired(org_a)

    response = page_of(client_for(bob), incident)

    assert response.status_code == 200
    body = response.content.decode()
    assert "card declined for order 17" in body
    assert 'data-testid="incident-actions"' not in body
    assert 'data-can-respond="false"' in body


def test_an_unknown_incident_is_404(org_a, alice):
    response = client_for(alice).get(f"/projects/{org_a.project.pk}/alerts/incidents/999999/")
    assert response.status_code == 404


def test_a_metric_incident_says_there_are_no_lines_to_show(org_a, alice):
    spec = {"name": "system.cpu.utilization", "agg": "avg"}
    policy = make_policy(org_a.project, "metric", spec, name="CPU")
    incident = Incident.objects.create(
        project=org_a.project,
        policy=policy,
        instance=policy.instances.create(labels={}, labels_key="{}"),
        title="CPU",
        priority="P3",
        opened_at=BASE,
    )

    response = page_of(client_for(alice), incident)

    assert response.status_code == 200
    assert response.context["evidence"].kind == ""
    assert "matches no single log line or span" in response.content.decode()
