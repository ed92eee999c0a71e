"""Plan limits where they bite — seats, projects, keys per project, alert policies — each refused
with a message naming the limit and the plan, in the UI, the API and /manage/; never a 500.
A downgrade keeps what exists and refuses only additions."""

import pytest
from django.urls import reverse

from apps.audit import Actor
from apps.billing import limits
from apps.projects.models import ApiKey, Invitation, KeyScope, Membership, Project, Role
from apps.projects.services import PlanLimitReached, invitation_accept, invitation_create
from tests.billing.conftest import put_on_plan
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_the_api_refuses_a_project_beyond_the_plan_naming_the_limit_and_the_plan(org_a, alice_client):
    put_on_plan(org_a.organization, "solo", projects=1)
    response = alice_client.post(
        f"/api/v1/orgs/{org_a.organization.pk}/projects", {"name": "second"}, content_type="application/json"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "plan_limit"
    assert "The Solo plan allows 1 projects; you have 1" in error["message"]
    assert Project.objects.filter(organization=org_a.organization).count() == 1


def test_the_ui_and_manage_refuse_a_project_beyond_the_plan_with_the_message(org_a, alice_client):
    put_on_plan(org_a.organization, "solo", projects=1)
    page = alice_client.post(reverse("projects:project-new", args=[org_a.organization.pk]), {"name": "two"})
    assert page.status_code == 400 and "Solo plan allows 1 projects" in page.content.decode()
    manage = alice_client.post(
        reverse("manage:projects_project_add"),
        {"organization": org_a.organization.pk, "name": "three"},
        follow=True,
    )
    assert manage.status_code == 200 and "Solo plan allows 1 projects" in manage.content.decode()
    assert Project.objects.filter(organization=org_a.organization).count() == 1


def test_keys_per_project_are_limited_and_a_revoked_key_frees_its_place(org_a, alice_client):
    put_on_plan(org_a.organization, "twokeys", api_keys_per_project=2)  # org_a has 2 already
    url = f"/api/v1/projects/{org_a.project.pk}/keys"
    refused = alice_client.post(url, {"scope": "read", "name": "third"}, content_type="application/json")
    assert (
        refused.status_code == 409
        and "allows 2 active API keys per project" in refused.json()["error"]["message"]
    )
    manage = alice_client.post(
        reverse("manage:projects_apikey_add"),
        {"project": org_a.project.pk, "scope": "read", "name": "x"},
        follow=True,
    )
    assert manage.status_code == 200 and "Twokeys plan allows 2" in manage.content.decode()
    key = ApiKey.objects.filter(project=org_a.project, scope=KeyScope.READ).get()
    assert alice_client.delete(f"{url}/{key.pk}").status_code in (200, 204)
    assert alice_client.post(url, {"scope": "read"}, content_type="application/json").status_code == 201


def test_seats_count_members_and_open_invitations_at_invitation_and_at_acceptance(org_a, alice):
    put_on_plan(org_a.organization, "pair", seats=2)
    owner = Membership.objects.get(user=alice)
    _, token = invitation_create(
        org_a.organization, "carol@acme.test", Role.MEMBER, owner, by=Actor(user=alice)
    )
    with pytest.raises(PlanLimitReached, match="The Pair plan allows 2 seats"):
        invitation_create(org_a.organization, "dave@acme.test", Role.MEMBER, owner, by=Actor(user=alice))
    # Re-inviting the same address replaces its invitation, so it needs no new seat.
    _, token = invitation_create(
        org_a.organization, "carol@acme.test", Role.ADMIN, owner, by=Actor(user=alice)
    )
    # A seat taken meanwhile (an operator added a member) stops the acceptance.
    Membership.objects.create(
        organization=org_a.organization, user=make_user("erin@acme.test"), role=Role.VIEWER
    )
    with pytest.raises(PlanLimitReached, match="seats"):
        carol = make_user("carol@acme.test")
        invitation_accept(token, carol, by=Actor(user=carol))
    assert Invitation.objects.get(email="carol@acme.test").accepted_at is None


def test_the_ui_refuses_an_invitation_beyond_the_seats_with_the_message(org_a, alice_client):
    put_on_plan(org_a.organization, "single", seats=1)
    response = alice_client.post(
        reverse("projects:invitation-new", args=[org_a.organization.pk]),
        {"email": "x@acme.test", "role": "member"},
    )
    assert response.status_code == 400 and "The Single plan allows 1 seats" in response.content.decode()
    assert not Invitation.objects.filter(email="x@acme.test").exists()


def test_a_downgrade_keeps_everything_and_refuses_only_additions(org_a, alice_client):
    for name in ("two", "three"):
        assert (
            alice_client.post(
                f"/api/v1/orgs/{org_a.organization.pk}/projects",
                {"name": name},
                content_type="application/json",
            ).status_code
            == 201
        )
    put_on_plan(org_a.organization, "solo", projects=1)
    assert Project.objects.filter(organization=org_a.organization).count() == 3
    assert alice_client.get(f"/api/v1/projects/{org_a.project.pk}").status_code == 200
    assert (
        alice_client.post(
            f"/api/v1/orgs/{org_a.organization.pk}/projects",
            {"name": "four"},
            content_type="application/json",
        ).status_code
        == 409
    )


def test_the_alert_policy_limit_is_there_for_the_alerts_app(org_a):
    put_on_plan(org_a.organization, "alerts", alert_policies_per_project=3)
    limits.check_policy_limit(org_a.project, existing=2)
    with pytest.raises(limits.LimitReached, match="allows 3 alert policies per project") as reached:
        limits.check_policy_limit(org_a.project, existing=3)
    assert (reached.value.limit, reached.value.allowed, reached.value.plan) == (
        "alert_policies_per_project",
        3,
        "alerts",
    )


def test_an_unlimited_plan_never_refuses(org_a, alice_client):
    put_on_plan(org_a.organization, "big", projects=None, seats=None)
    for i in range(3):
        assert (
            alice_client.post(
                f"/api/v1/orgs/{org_a.organization.pk}/projects",
                {"name": f"p{i}"},
                content_type="application/json",
            ).status_code
            == 201
        )
