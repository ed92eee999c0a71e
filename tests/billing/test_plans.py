"""Plans are rows: seeded, managed by operators (command, admin), one subscription per
organization, changes audited, and retention read from the plan."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import User
from apps.audit import Actor
from apps.audit.models import AuditEvent
from apps.billing import retention
from apps.billing.models import Plan, Subscription
from apps.projects.services import organization_create
from tests.billing.conftest import put_on_plan

pytestmark = pytest.mark.django_db


def plans(*args):
    out = StringIO()
    call_command("plans", *args, stdout=out)
    return out.getvalue()


def test_three_plans_are_seeded_and_listed_with_their_limits():
    listing = plans("list")
    for slug in ("free", "team", "business"):
        assert slug in listing
    free = Plan.objects.get(slug="free")
    assert (free.events_per_month, free.overage, free.seats, free.projects) == (1_000_000, "block", 5, 5)


def test_a_new_organization_starts_on_the_free_plan():
    user = User.objects.create_user("new@example.test", "pw-pw-pw-pw")
    organization = organization_create("Newco", by=Actor(user=user))
    assert Subscription.objects.get(organization=organization).plan.slug == "free"


def test_an_organization_made_without_a_subscription_gets_one_when_first_looked_at(org_a):
    from apps.billing import state

    Subscription.objects.filter(organization=org_a.organization).delete()
    state.forget()
    assert state.for_organization(org_a.organization.pk).plan_slug == "free"
    assert Subscription.objects.filter(organization=org_a.organization).count() == 1


def test_operators_create_a_plan_and_move_an_organization_to_it_and_the_change_is_audited(org_a):
    output = plans(
        "create",
        "startup",
        "--events-per-month",
        "5000000",
        "--retention-days",
        "60",
        "--seats",
        "10",
        "--projects",
        "8",
        "--overage",
        "throttle",
    )
    assert "created plan startup" in output
    plan = Plan.objects.get(slug="startup")
    assert (plan.events_per_month, plan.retention_warn_days, plan.seats, plan.overage) == (
        5_000_000,
        60,
        10,
        "throttle",
    )
    assert "is now on startup" in plans("set", "--org", str(org_a.organization.pk), "--plan", "startup")
    assert org_a.organization.subscription.plan == plan
    event = AuditEvent.objects.filter(
        action="subscription.change", organization_id=org_a.organization.pk
    ).get()
    assert event.changes["before"] == {"plan": "free"}
    assert event.changes["after"]["plan"] == "startup"
    assert AuditEvent.objects.filter(action="plan.create", target_repr="startup").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["set", "--org", "999999", "--plan", "free"], "No organization"),
        (["create", "free", "--events-per-month", "1"], "already exists"),
        (["create", "x", "--events-per-month", "-1"], "0 or more"),
    ],
)
def test_the_plans_command_refuses_bad_input_with_a_clear_message(org_a, args, message):
    with pytest.raises(CommandError, match=message):
        plans(*args)


def test_setting_an_unknown_plan_is_a_clear_error(org_a):
    with pytest.raises(CommandError, match="No plan “gold”"):
        plans("set", "--org", str(org_a.organization.pk), "--plan", "gold")


def test_retention_is_the_plan_s_and_empty_fields_take_the_deployment_default(org_a, settings):
    settings.RETENTION_DEBUG_DAYS = 3
    assert retention.for_project(org_a.project.pk).warn_days == settings.RETENTION_WARN_DAYS
    put_on_plan(org_a.organization, "long", retention_warn_days=90, retention_span_days=45)
    kept = retention.for_project(org_a.project.pk)
    assert (kept.warn_days, kept.span_days, kept.debug_days) == (90, 45, 3)
    # Storage keeps partitions for the longest retention any plan in use grants.
    assert retention.longest().warn_days == max(90, settings.RETENTION_WARN_DAYS)
