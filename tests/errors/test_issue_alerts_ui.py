"""Alert policies on issues made from the Issues tab and the issue page (admins)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.alerts.models import Policy
from apps.audit.models import AuditEvent
from apps.errors.models import Issue
from apps.errors.services import event_store
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_an_admin_alerts_on_many_events_of_one_issue_from_its_page(org_a, alice):
    event_store(org_a.project.pk, {"message": "checkout failed"}, datetime.now(UTC))
    issue = Issue.objects.get(project=org_a.project)
    page = client_for(alice).get(f"/projects/{org_a.project.pk}/issues/{issue.pk}/").content.decode()
    assert 'data-testid="issue-alert-form"' in page

    response = client_for(alice).post(
        f"/projects/{org_a.project.pk}/issues/alerts/new/",
        {"kind": "issue_events", "issue_id": issue.pk, "threshold": "50", "window": "15m"},
    )

    policy = Policy.objects.get(project=org_a.project)
    assert response.status_code == 302 and response["Location"].endswith(f"/alerts/#policy-{policy.pk}")
    assert (policy.kind, policy.spec, policy.op, policy.threshold, policy.window_seconds) == (
        "issue_events",
        {"issue_id": issue.pk, "per_issue": True, "environment": ""},
        ">=",
        50.0,
        900,
    )
    assert "checkout failed" in policy.name
    assert AuditEvent.objects.filter(action="alerts.policy.create", actor_email=alice.email).exists()


def test_new_issue_alerts_from_the_issues_tab_and_bad_input_creates_nothing(org_a, alice):
    url = f"/projects/{org_a.project.pk}/issues/alerts/new/"
    client = client_for(alice)
    assert client.post(url, {"kind": "new_issue", "window": "5m", "priority": "P1"}).status_code == 302
    policy = Policy.objects.get(project=org_a.project)
    assert (policy.kind, policy.op, policy.threshold, policy.priority) == ("new_issue", ">", 0.0, "P1")

    for bad in (
        {"kind": "whatever"},
        {"kind": "issue_events", "threshold": "0"},
        {"kind": "new_issue", "window": "9y"},
    ):
        assert client.post(url, bad).status_code == 302
    assert Policy.objects.filter(project=org_a.project).count() == 1


def test_viewers_see_no_alert_form(org_a, bob):
    page = client_for(bob).get(f"/projects/{org_a.project.pk}/issues/").content.decode()
    assert 'data-testid="issue-alert-form"' not in page
