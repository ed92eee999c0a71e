"""The default rule pack: every new project gets it, re-adding is harmless, and rules on telemetry
a project does not send stay quiet."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from apps.alerts.models import Policy, Transition
from apps.alerts.rulepack import DEFAULT_RULES
from apps.audit.models import AuditEvent
from apps.logs.counts import count_logs
from tests.alerts.conftest import BASE, evaluate, ingest_spans, log, span
from tests.telemetry import ingest_logs as ingest

pytestmark = pytest.mark.django_db


def test_a_project_created_through_the_api_starts_with_the_default_rules(alice_client, org_a):
    response = alice_client.post(
        f"/api/v1/orgs/{org_a.organization.pk}/projects", {"name": "Shop"}, content_type="application/json"
    )
    assert response.status_code == 201
    project_id = response.json()["id"]
    names = set(Policy.objects.filter(project_id=project_id).values_list("name", flat=True))
    assert names == {rule["name"] for rule in DEFAULT_RULES}
    assert len(names) == 10
    priorities = dict(Policy.objects.filter(project_id=project_id).values_list("name", "priority"))
    assert priorities["Log error ratio > 10 %"] == "P1"
    assert priorities["p95 latency > 2 s (http.server.request.duration)"] == "P3"
    event = AuditEvent.objects.get(action="alerts.rulepack.add")
    assert event.actor_email == "alice@acme.test" and len(event.changes["after"]["policies"]) == 10
    # The policies are ordinary ones: listed by the API, editable.
    listed = alice_client.get(f"/api/v1/projects/{project_id}/alerts/policies").json()
    assert len(listed) == 10 and all(p["labels"] == {"pack": "default"} for p in listed)


def test_the_command_adds_only_missing_rules(org_a):
    out = StringIO()
    call_command("alerts_rule_pack", "--project", str(org_a.project.pk), stdout=out)
    assert "10 rule(s) added" in out.getvalue()
    Policy.objects.filter(project=org_a.project, name="CPU > 80 %").delete()
    call_command("alerts_rule_pack", "--all", stdout=out)
    assert "1 rule(s) added" in out.getvalue()
    assert Policy.objects.filter(project=org_a.project).count() == 10


def test_default_rules_stay_quiet_for_a_healthy_project_and_catch_a_silent_service(org_a):
    call_command("alerts_rule_pack", "--project", str(org_a.project.pk), stdout=StringIO())
    policies = list(Policy.objects.filter(project=org_a.project))
    with time_machine.travel(BASE, tick=False):
        ingest(org_a.ingest_key, [log(1, BASE, level="info", service="api") for _ in range(10)])
        ingest_spans(
            org_a.ingest_key, [span(BASE - timedelta(minutes=1), 20, n=i) for i in range(5)], service="shop"
        )
        count_logs(BASE + timedelta(minutes=1))
        for policy in policies:
            assert evaluate(policy, BASE) == [], policy.name
    later = BASE + timedelta(minutes=6)
    with time_machine.travel(later, tick=False):
        ingest(org_a.ingest_key, [log(1, later, level="info", service="api")])
        absence = next(p for p in policies if p.kind == "absence")
        assert evaluate(absence, later) == [("normal", "firing", 0.0, {"service": "shop"})]
        assert all(evaluate(p, later) == [] for p in policies if p.kind != "absence")
    assert Transition.objects.count() == 1
