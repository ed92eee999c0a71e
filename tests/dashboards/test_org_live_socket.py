"""The organization's live socket (/ws/orgs/{id}/live/) on a real server, seen from scripted
pages: its members are told which project's incidents changed, only admins are told of channel
trouble, and nobody else gets in."""

import asyncio
from datetime import UTC, datetime

import pytest

from apps.alerts.incidents import incident_acknowledge
from apps.alerts.models import Incident
from apps.audit import Actor
from apps.dashboards import live
from apps.projects.models import Membership
from apps.projects.services import membership_remove
from tests.dashboards.live_client import LiveSocket, cookie_for
from tests.ingestion.conftest import vigil_server  # noqa: F401  (the fixture below uses it)
from tests.notifications.conftest import fire, make_policy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(vigil_server):  # noqa: F811  (the uvicorn server of the ingestion tests)
    return vigil_server


def org_url(server, organization_id: int, **params: str) -> str:
    query = "".join(f"?{k}={v}" for k, v in params.items())
    return server.url.replace("http", "ws") + f"/ws/orgs/{organization_id}/live/{query}"


def test_members_hear_of_incident_changes_and_only_admins_of_channel_trouble(server, org_a, alice, bob):
    policy = make_policy(org_a.project, priority="P1")
    fire(policy, {"service": "api"}, 42.0, datetime.now(UTC))
    incident = Incident.objects.get()
    url = org_url(server, org_a.organization.pk)
    alice_headers, bob_headers = cookie_for(alice, server), cookie_for(bob, server)

    async def scenario() -> tuple[LiveSocket, LiveSocket]:
        async with LiveSocket(url, alice_headers) as owner, LiveSocket(url, bob_headers) as viewer:
            await owner.wait_for(lambda s: s.hello)
            await viewer.wait_for(lambda s: s.hello)
            await asyncio.to_thread(incident_acknowledge, incident, alice)
            for socket in (owner, viewer):
                await socket.wait_for(lambda s: any(e["kind"] == "alerts" for e in s.events))
            live.announce_organization(
                org_a.organization.pk, {"kind": "channels", "channel": 7}, admins_only=True
            )
            live.announce_organization(org_a.organization.pk, {"kind": "alerts", "project": 0})
            await owner.wait_for(lambda s: len(s.events) == 3)
            await viewer.wait_for(lambda s: len(s.events) == 2)
            return owner, viewer

    owner, viewer = asyncio.run(scenario())
    assert owner.hello["gap"] is False
    assert [(e["kind"], e.get("project")) for e in viewer.events] == [
        ("alerts", org_a.project.pk),
        ("alerts", 0),
    ]
    assert [e["kind"] for e in owner.events] == ["alerts", "channels", "alerts"]
    assert owner.events[1]["channel"] == 7
    ids = [int(owner.hello["cursor"])] + [int(e["id"]) for e in owner.events]
    assert ids == sorted(set(ids))  # increasing: the page's cursor logic keeps every notice


def test_a_reconnect_is_told_it_may_have_missed_notices(server, org_a, bob):
    headers = cookie_for(bob, server)

    async def scenario() -> dict:
        async with LiveSocket(org_url(server, org_a.organization.pk, after="123"), headers) as s:
            return await s.wait_for(lambda s: s.hello)

    assert asyncio.run(scenario())["gap"] is True


def test_strangers_are_refused_and_a_removed_member_is_shown_the_door(server, org_a, alice, bob, mallory):
    mallory_headers, bob_headers = cookie_for(mallory, server), cookie_for(bob, server)

    async def close_code(organization_id: int) -> int | None:
        async with LiveSocket(org_url(server, organization_id), mallory_headers) as socket:
            return await socket.closed(timeout=5)

    assert asyncio.run(close_code(org_a.organization.pk)) == 4403
    assert asyncio.run(close_code(10**9)) == 4403

    async def removed() -> int | None:
        async with LiveSocket(org_url(server, org_a.organization.pk), bob_headers) as socket:
            await socket.wait_for(lambda s: s.hello)
            owner = await asyncio.to_thread(Membership.objects.get, user=alice)
            membership = await asyncio.to_thread(Membership.objects.get, user=bob)
            await asyncio.to_thread(membership_remove, owner, membership, by=Actor(user=alice))
            return await socket.closed(timeout=5)

    assert asyncio.run(removed()) == 4403


def test_without_a_session_it_is_4401(server, org_a):
    async def close_code() -> int | None:
        headers = {"Origin": server.url}
        async with LiveSocket(org_url(server, org_a.organization.pk), headers) as socket:
            return await socket.closed(timeout=5)

    assert asyncio.run(close_code()) == 4401
