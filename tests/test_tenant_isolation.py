"""Tenant isolation sweep: every URL pattern of the UI, API and admin sites is tried with the
ids of organization A by mallory (owner of organization B) and by B's API keys. The answer is
always 404 (or 401/redirect-to-login for missing credentials, 405 for a wrong method) and the
body never contains A's data. New URL patterns are swept automatically; a new URL parameter
makes this test fail until it is given a value below.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from apps.alerts.models import AlertInstance, Incident
from apps.alerts.services import heartbeat_create, policy_create
from apps.audit import Actor
from apps.audit.models import AuditEvent
from apps.errors.dsn import dsn_key_create
from apps.errors.models import Attachment, Event, Issue
from apps.errors.services import event_store
from apps.ingestion.models import IngestionSettings
from apps.notifications.channels import channel_create
from apps.notifications.models import Delivery, MaintenanceWindow, Route, Silence
from apps.projects.models import ApiKey, Invitation, KeyScope, Membership
from apps.projects.services import api_key_create, invitation_create

# Capability URLs: knowing the secret in the URL *is* the authorisation (the invitation link, a
# heartbeat's ping URL).
CAPABILITY_PARAMS = {"token", "uidb64", "ping_uuid"}
# Parameters that name no tenant object (/manage/<app_label>/); every other parameter is swept and
# must be given a value in a_ids, so a new endpoint cannot slip past this test.
NON_TENANT_PARAMS = {"app_label", "url"}
# Staff-only operator site: mallory is not staff, every page is a redirect to its login.
STAFF_PREFIX = "admin/"


def walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def param_names(route: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", route) + re.findall(r"\(\?P<(\w+)>", route)


def fill(route: str, values: dict[str, str]) -> str:
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values[m.group(1)], route)  # regex groups first
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], route)
    route = route.replace("^", "").replace("$", "").replace("/?", "/").replace("\\Z", "")
    return "/" + route.replace("\\", "")


@pytest.fixture
def a_ids(org_a, alice, bob):
    invitation, _ = invitation_create(
        org_a.organization,
        "newbie@acme.test",
        "member",
        Membership.objects.get(user=alice),
        by=Actor(user=alice),
    )
    return {
        "organization_id": str(org_a.organization.pk),
        "project_id": str(org_a.project.pk),
        "key_id": str(ApiKey.objects.filter(project=org_a.project).first().pk),
        "membership_id": str(Membership.objects.get(user=bob).pk),
        "invitation_id": str(invitation.pk),
        "audit_event_id": str(AuditEvent.objects.filter(organization_id=org_a.organization.pk).first().pk),
        "user_id": str(alice.pk),
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "version": "shop@1.0.0",
        "ingestion_settings_id": str(
            IngestionSettings.objects.create(project=org_a.project, redact_keys=["x"]).pk
        ),
        "dsn_key_id": str(dsn_key_create(org_a.project, "Acme dsn").pk),
        "issue_id": str(_issue_of(org_a.project.pk)),
        "attachment_id": str(_attachment_of(org_a.project.pk)),
        **alert_ids(org_a),
        **notification_ids(org_a),
    }


def notification_ids(org_a) -> dict[str, str]:
    """A channel (with a delivery) and a route of organization A."""
    channel = channel_create(
        org_a.organization,
        {"name": "Acme email", "kind": "email", "config": {"addresses": ["ops@acme.test"]}},
        actor=None,
    )
    route = Route.objects.create(organization=org_a.organization, channel=channel, priorities=["P1"])
    delivery = Delivery.objects.create(
        organization=org_a.organization, channel=channel, event="test", payload={"title": "Acme test"}
    )
    silence = Silence.objects.create(
        project=org_a.project,
        matchers=[{"name": "host", "op": "=", "value": "db"}],
        ends_at=timezone.now() + timedelta(hours=1),
        comment="Acme drill",
    )
    window = MaintenanceWindow.objects.create(
        project=org_a.project, name="Acme deploys", weekdays=[5], start_time=time(23), end_time=time(2)
    )
    return {
        "channel_id": str(channel.pk),
        "route_id": str(route.pk),
        "delivery_id": str(delivery.pk),
        "silence_id": str(silence.pk),
        "window_id": str(window.pk),
    }


def _issue_of(project_id: int) -> int:
    event_store(project_id, {"message": "Acme checkout failed"}, datetime.now(UTC))
    return Issue.objects.get(project_id=project_id).pk


def _attachment_of(project_id: int) -> int:
    """An attachment of the issue's event (made by _issue_of just before)."""
    event = Event.objects.get(project_id=project_id)
    return Attachment.objects.create(
        project_id=project_id, event_id=event.event_id, filename="acme.txt", size=4, data=b"acme"
    ).pk


def alert_ids(org_a) -> dict[str, str]:
    """A policy with a firing incident and a heartbeat of organization A."""
    policy = policy_create(
        org_a.project,
        {"name": "Acme errors", "kind": "log_count", "spec": {"query": "level>=error"}},
        actor=None,
    )
    instance = AlertInstance.objects.create(policy=policy, labels={}, labels_key="{}")
    incident = Incident.objects.create(
        project=org_a.project,
        policy=policy,
        instance=instance,
        title="Acme errors",
        priority="P3",
        opened_at=timezone.now(),
    )
    heartbeat = heartbeat_create(org_a.project, {"name": "Acme backup"}, actor=None)
    return {"policy_id": str(policy.pk), "incident_id": str(incident.pk), "heartbeat_id": str(heartbeat.pk)}


def admin_object_id(route: str, org_a, a_ids) -> str:
    """The /manage/<app>/<model>/<object_id>/ pages get the pk of A's object of that model."""
    by_model = {
        "projects/project": str(org_a.project.pk),
        "projects/apikey": a_ids["key_id"],
        "projects/membership": a_ids["membership_id"],
        "projects/invitation": a_ids["invitation_id"],
        "projects/organization": a_ids["organization_id"],
        "audit/auditevent": a_ids["audit_event_id"],
        "ingestion/ingestionsettings": a_ids["ingestion_settings_id"],
        "accounts/user": a_ids["user_id"],
        "alerts/policy": a_ids["policy_id"],
        "notifications/channel": a_ids["channel_id"],
        "notifications/delivery": a_ids["delivery_id"],
        "notifications/route": a_ids["route_id"],
    }
    for model, pk in by_model.items():
        if model in route:
            return pk
    return str(org_a.project.pk)


def tenant_routes():
    for route in walk(get_resolver().url_patterns):
        names = set(param_names(route))
        if names & CAPABILITY_PARAMS or route.startswith(STAFF_PREFIX):
            continue
        if names - NON_TENANT_PARAMS:
            yield route


A_SECRETS = ("Acme", "alice@acme.test", "bob@acme.test", "newbie@acme.test")
SESSION_OK = {404, 405}
KEY_OK = {401, 404, 405}


def assert_no_leak(response, route):
    body = response.content.decode(errors="replace") if not response.streaming else ""
    for secret in A_SECRETS:
        assert secret not in body, f"{route} leaked {secret!r}"


def test_every_tenant_url_is_404_for_another_organization(mallory_client, client, org_a, org_b, a_ids):
    _, b_manage_key = api_key_create(org_b.project, KeyScope.MANAGE, "B as code", by=Actor(user=org_b.owner))
    routes = list(tenant_routes())
    assert len(routes) > 20  # the sweep really sees the URL conf
    for route in routes:
        values = dict(a_ids)
        values.update(
            {
                "object_id": admin_object_id(route, org_a, a_ids),
                "app_label": "projects",
                "content_type_id": "1",
                "url": "x",
            }
        )
        unknown = set(param_names(route)) - set(values)
        assert not unknown, f"give the isolation sweep a value for {unknown} (route {route})"
        url = fill(route, values)
        for method in ("get", "post", "patch", "delete"):
            response = getattr(mallory_client, method)(url)
            assert response.status_code in SESSION_OK or (
                route.startswith("manage/")
                and response.status_code == 302
                and "/manage/" in response["Location"]
            ), f"mallory {method.upper()} {url} → {response.status_code}"
            assert_no_leak(response, url)
            for key in (org_b.read_key, org_b.ingest_key, b_manage_key):
                response = getattr(client, method)(url, HTTP_AUTHORIZATION=f"Bearer {key}")
                assert response.status_code in KEY_OK or (
                    response.status_code == 302 and "login" in response["Location"]
                ), f"B key {method.upper()} {url} → {response.status_code}"
                assert_no_leak(response, url)


def test_lists_never_include_another_organizations_objects(mallory_client, org_a):
    organizations = mallory_client.get("/api/v1/orgs").json()
    home = mallory_client.get("/", follow=True).content.decode()

    assert [o["name"] for o in organizations] == ["Bigcorp"]
    assert "Acme" not in home


def test_an_invitation_of_a_does_not_show_in_b(mallory_client, org_a, a_ids, org_b):
    response = mallory_client.get(f"/api/v1/orgs/{org_b.organization.pk}/invitations")

    assert response.status_code == 200
    assert response.json() == []
    assert Invitation.objects.filter(organization=org_a.organization).exists()


def test_the_sweep_urls_are_real_pages_for_the_owner(alice_client, org_a, a_ids):
    """Guards the sweep itself: the filled-in URLs must work for A's owner, or 404s prove nothing."""
    ok = []
    for route in tenant_routes():
        values = {
            **a_ids,
            "object_id": admin_object_id(route, org_a, a_ids),
            "app_label": "projects",
            "content_type_id": "1",
            "url": "x",
        }
        if alice_client.get(fill(route, values)).status_code == 200:
            ok.append(route)
    assert {"orgs/<int:organization_id>/", "projects/<int:project_id>/"} <= set(ok)
    assert any(r.startswith("api/v1/") for r in ok)
    assert len(ok) >= 12, ok
