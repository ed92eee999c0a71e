"""The minimal live WebSocket on a real server: session-authenticated project members only."""

import asyncio

import pytest
import websockets
from django.conf import settings
from django.test import Client

from tests.ingestion.conftest import post_json_to

pytestmark = pytest.mark.django_db(transaction=True)


def cookie_for(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}", "Origin": "http://127.0.0.1"}


async def first_message(url: str, headers: dict[str, str]) -> tuple[str, object]:
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=5) as socket:
            return "message", await asyncio.wait_for(socket.recv(), 10)
    except websockets.ConnectionClosed as closed:
        return "closed", closed.rcvd.code if closed.rcvd else None
    except websockets.InvalidStatus as refused:
        return "refused", refused.response.status_code


def test_a_member_sees_ingestion_announced_live(vigil_server, org_a, bob):
    url = vigil_server.url.replace("http", "ws") + f"/ws/projects/{org_a.project.id}/live/"

    headers = cookie_for(bob)

    async def scenario():
        listener = asyncio.create_task(first_message(url, headers))
        await asyncio.sleep(1.0)  # let the socket join the group before the batch lands
        await asyncio.to_thread(
            post_json_to,
            vigil_server.url,
            "/api/v1/ingest/logs",
            [{"message": "a"}, {"message": "b"}],
            org_a.ingest_key,
        )
        return await listener

    kind, message = asyncio.run(scenario())
    assert kind == "message"
    assert message == '{"kind": "logs", "count": 2}'


def test_another_organizations_member_is_closed_with_4403(vigil_server, org_a, mallory):
    url = vigil_server.url.replace("http", "ws") + f"/ws/projects/{org_a.project.id}/live/"
    assert asyncio.run(first_message(url, cookie_for(mallory))) == ("closed", 4403)


def test_an_anonymous_visitor_is_not_let_in(vigil_server, org_a):
    url = vigil_server.url.replace("http", "ws") + f"/ws/projects/{org_a.project.id}/live/"
    assert asyncio.run(first_message(url, {"Origin": "http://127.0.0.1"})) == ("closed", 4401)
