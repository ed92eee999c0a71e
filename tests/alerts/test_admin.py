"""Policies in the tenant admin (/manage/) and the staff admin (/admin/): validated like the API,
scoped to the admin's organizations, audited."""

from __future__ import annotations

import pytest

from apps.alerts.models import Policy
from apps.audit.models import AuditEvent
from tests.alerts.conftest import make_policy
from tests.conftest import client_for, make_user

pytestmark = pytest.mark.django_db


def form(project_id: int, **changes: str) -> dict[str, object]:
    data: dict[str, object] = {
        "project": project_id,
        "name": "Checkout errors",
        "description": "",
        "kind": "log_count",
        "spec": '{"query": "level>=error service:checkout"}',
        "op": ">",
        "threshold": "5",
        "resolve_threshold": "",
        "window_seconds": "300",
        "for_seconds": "60",
        "keep_firing_for_seconds": "0",
        "interval_seconds": "60",
        "no_data": "keep_last",
        "on_error": "keep_last",
        "flap_stable_seconds": "600",
        "priority": "P2",
        "runbook_url": "",
        "labels": '{"team": "shop"}',
        "enabled": "on",
    }
    data.update(changes)
    return data


def test_an_org_admin_adds_a_policy_in_manage_and_it_is_audited(alice_client, org_a):
    response = alice_client.post("/manage/alerts/policy/add/", form(org_a.project.pk))
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = Policy.objects.get(name="Checkout errors")
    assert (policy.spec, policy.threshold, policy.labels) == (
        {"query": "level>=error service:checkout", "group_by": None},
        5.0,
        {"team": "shop"},
    )
    assert AuditEvent.objects.filter(action="alerts.policy.create", target_id=str(policy.pk)).exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"spec": '{"query": "level>="}'}, "Query syntax error"),
        ({"interval_seconds": "15"}, "multiple of 10s"),
        ({"window_seconds": "10"}, "from 1m to 24h"),
    ],
)
def test_invalid_policies_are_form_errors_in_manage(alice_client, org_a, change, message):
    response = alice_client.post("/manage/alerts/policy/add/", form(org_a.project.pk, **change))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Policy.objects.exists()


def test_manage_lists_only_the_admins_own_policies(alice_client, mallory_client, org_a, org_b):
    mine = make_policy(org_a.project, "log_count", {"query": ""}, name="Acme policy")
    make_policy(org_b.project, "log_count", {"query": ""}, name="Bigcorp policy")
    page = alice_client.get("/manage/alerts/policy/").content.decode()
    assert "Acme policy" in page and "Bigcorp policy" not in page
    assert mallory_client.get(f"/manage/alerts/policy/{mine.pk}/change/").status_code == 404
    # A's project is not offered to B's admin.
    assert "Acme web" not in mallory_client.get("/manage/alerts/policy/add/").content.decode()


def test_staff_change_a_policy_in_the_operator_admin(org_a):
    staff = make_user("ops@vigil.test")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    policy = make_policy(org_a.project, "log_count", {"query": ""}, name="errors")
    client = client_for(staff)
    response = client.post(
        f"/admin/alerts/policy/{policy.pk}/change/",
        form(org_a.project.pk, name="errors (tuned)", threshold="9"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    policy.refresh_from_db()
    assert (policy.name, policy.threshold) == ("errors (tuned)", 9.0)
    event = AuditEvent.objects.get(action="alerts.policy.change")
    assert event.actor_email == "ops@vigil.test"
    assert event.changes["after"]["threshold"] == 9.0
    assert client.get("/admin/alerts/incident/").status_code == 200
    assert client.get("/admin/alerts/transition/").status_code == 200
