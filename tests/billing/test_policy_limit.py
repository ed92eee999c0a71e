"""Alert policies per project, as the plan allows: through the API, /manage/ and /admin/ (all go
through apps.alerts.services.policy_create), heartbeats included; the default rule pack counts
and goes in whole or not at all."""

import pytest
from django.urls import reverse

from apps.alerts.models import Policy
from apps.alerts.rulepack import DEFAULT_RULES, rule_pack_add
from apps.alerts.services import policy_create
from apps.billing import limits
from apps.billing.models import Plan
from apps.projects.models import Project
from tests.billing.conftest import put_on_plan

pytestmark = pytest.mark.django_db

RULE = {
    "name": "API errors",
    "kind": "log_count",
    "query": "level>=error",
    "condition": {"op": ">", "threshold": 10, "window": "5m"},
}


def policies_url(project: Project) -> str:
    return f"/api/v1/projects/{project.pk}/alerts/policies"


def add_policies(project: Project, n: int) -> None:
    for i in range(n):
        policy_create(project, {"name": f"rule {i}", "kind": "log_count", "spec": {}}, actor=None)


def test_the_api_refuses_a_policy_beyond_the_plan_naming_the_limit_and_the_plan(org_a, alice_client):
    put_on_plan(org_a.organization, "small", alert_policies_per_project=2)
    add_policies(org_a.project, 2)
    response = alice_client.post(policies_url(org_a.project), RULE, content_type="application/json")
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "plan_limit"
    assert "The Small plan allows 2 alert policies per project; you have 2" in error["message"]
    assert error["details"] == {"limit": "alert_policies_per_project", "allowed": 2, "plan": "small"}
    assert Policy.objects.filter(project=org_a.project).count() == 2


def test_a_deleted_policy_frees_its_place(org_a, alice_client):
    put_on_plan(org_a.organization, "small", alert_policies_per_project=1)
    created = alice_client.post(policies_url(org_a.project), RULE, content_type="application/json")
    assert created.status_code == 201
    assert (
        alice_client.post(policies_url(org_a.project), RULE, content_type="application/json").status_code
        == 409
    )
    assert alice_client.delete(f"{policies_url(org_a.project)}/{created.json()['id']}").status_code == 204
    assert (
        alice_client.post(policies_url(org_a.project), RULE, content_type="application/json").status_code
        == 201
    )


def test_the_limit_is_per_project(org_a, alice_client):
    put_on_plan(org_a.organization, "small", alert_policies_per_project=1)
    other = Project.objects.create(organization=org_a.organization, name="other")
    add_policies(org_a.project, 1)
    assert alice_client.post(policies_url(other), RULE, content_type="application/json").status_code == 201


def test_heartbeats_take_a_policy_place_too(org_a, alice_client):
    put_on_plan(org_a.organization, "small", alert_policies_per_project=1)
    add_policies(org_a.project, 1)
    response = alice_client.post(
        f"/api/v1/projects/{org_a.project.pk}/heartbeats",
        {"name": "backup", "cron": "30 2 * * *"},
        content_type="application/json",
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "plan_limit"
    assert Policy.objects.filter(project=org_a.project).count() == 1


@pytest.mark.parametrize("site", ["manage", "admin"])
def test_the_admin_sites_refuse_with_the_message_not_a_500(site, org_a, alice, alice_client):
    put_on_plan(org_a.organization, "small", alert_policies_per_project=1)
    add_policies(org_a.project, 1)
    if site == "admin":
        alice.is_staff = alice.is_superuser = True
        alice.save(update_fields=["is_staff", "is_superuser"])
    form = {
        "project": org_a.project.pk,
        "name": "one more",
        "description": "",
        "kind": "log_count",
        "spec": '{"query": "level>=error"}',
        "op": ">",
        "threshold": "1",
        "window_seconds": "300",
        "for_seconds": "0",
        "keep_firing_for_seconds": "0",
        "interval_seconds": "60",
        "no_data": "normal",
        "on_error": "keep_last",
        "flap_stable_seconds": "600",
        "priority": "P3",
        "labels": "{}",
        "enabled": "on",
    }
    page = alice_client.post(reverse(f"{site}:alerts_policy_add"), form, follow=True)
    assert page.status_code == 200
    assert "The Small plan allows 1 alert policies per project" in page.content.decode()
    assert Policy.objects.filter(project=org_a.project).count() == 1


def test_a_new_free_project_gets_the_whole_rule_pack_and_room_for_its_own_rules(org_a, alice_client):
    free = Plan.objects.get(slug="free")
    assert free.alert_policies_per_project is not None
    assert free.alert_policies_per_project >= len(DEFAULT_RULES) + 10
    created = alice_client.post(
        f"/api/v1/orgs/{org_a.organization.pk}/projects", {"name": "fresh"}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    project = Project.objects.get(pk=created.json()["id"])
    assert Policy.objects.filter(project=project, labels__pack="default").count() == len(DEFAULT_RULES)
    own = free.alert_policies_per_project - len(DEFAULT_RULES)
    for i in range(own):
        body = {**RULE, "name": f"own {i}"}
        assert (
            alice_client.post(policies_url(project), body, content_type="application/json").status_code == 201
        )
    refused = alice_client.post(policies_url(project), RULE, content_type="application/json")
    assert refused.status_code == 409
    assert (
        f"The Free plan allows {free.alert_policies_per_project} alert policies"
        in refused.json()["error"]["message"]
    )


def test_a_plan_too_small_for_the_rule_pack_refuses_the_project_whole(org_a, alice_client):
    put_on_plan(org_a.organization, "tiny", alert_policies_per_project=3)
    response = alice_client.post(
        f"/api/v1/orgs/{org_a.organization.pk}/projects", {"name": "fresh"}, content_type="application/json"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "plan_limit"
    assert (
        "default alert rules" in error["message"] and "Tiny plan allows 3 alert policies" in error["message"]
    )
    assert not Project.objects.filter(name="fresh").exists()
    assert not Policy.objects.filter(project__name="fresh").exists()


def test_the_rule_pack_is_added_whole_or_not_at_all(org_a):
    put_on_plan(org_a.organization, "small", alert_policies_per_project=len(DEFAULT_RULES) + 1)
    add_policies(org_a.project, 2)  # one place short of the whole pack
    with pytest.raises(limits.LimitReached, match=f"you have 2 and this adds {len(DEFAULT_RULES)}"):
        rule_pack_add(org_a.project)
    assert Policy.objects.filter(project=org_a.project).count() == 2
    Policy.objects.filter(project=org_a.project, name="rule 1").delete()
    assert len(rule_pack_add(org_a.project)) == len(DEFAULT_RULES)
    assert rule_pack_add(org_a.project) == []  # already there: nothing to add, nothing refused


def test_the_rule_pack_command_skips_a_project_without_room_and_goes_on(org_a, org_b, capsys):
    from django.core.management import call_command

    put_on_plan(org_a.organization, "small", alert_policies_per_project=3)
    call_command("alerts_rule_pack", "--all")
    out, err = capsys.readouterr()
    assert f"project {org_a.project.pk} ({org_a.project.name}): nothing added" in err
    assert "Small plan allows 3 alert policies" in err
    assert f"project {org_b.project.pk} ({org_b.project.name}): {len(DEFAULT_RULES)} rule(s) added" in out
    assert not Policy.objects.filter(project=org_a.project).exists()
