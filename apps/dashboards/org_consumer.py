"""WebSocket /ws/orgs/{id}/live/: notices for an organization's own pages, for its members.

What travels: small notices that something changed, never the data itself — `{"kind": "alerts",
"project": id}` when an incident of a project changes (the org home refetches its incidents
cells), `{"kind": "channels", "channel": id}` when a channel gets a warning or is disabled (the
channel list and the Alerts tabs refetch what they show). Pages load the data through the same
views and APIs as without the socket, so their permission rules apply unchanged; notices marked
for admins (channel trouble: only admins see channels) are sent to admin sockets only.

Protocol: static/js/live.js speaks it as it speaks the project socket's. Close codes 4401 (not
signed in, or signed out since) and 4403 (not a member, or not any more). Frames:
`{"type": "hello", "cursor", "gap"}` once, then `{"type": "events", "events": [EVENT + "id"]}`.
There is no history to replay (notices go over the Channels layer, each to the sockets connected
at that moment), so a socket that comes back (`?after=`) is told `gap: true` and the page
refetches. Ids are microseconds since the epoch, increasing per socket, so a page's cursor from
an earlier socket is always behind the next socket's first id.

Access: membership is checked at connect, again whenever a `live.access` message comes on the
user's group (apps.dashboards.live.access_changed) and every RECHECK_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any
from urllib.parse import parse_qs

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.dashboards import live
from apps.projects.models import Membership, Role, role_at_least

logger = logging.getLogger(__name__)

RECHECK_SECONDS = 30.0
CLOSE_SIGNED_OUT, CLOSE_FORBIDDEN = 4401, 4403


@database_sync_to_async
def _role(user: Any, organization_id: int) -> str | None:
    return (
        Membership.objects.filter(user=user, organization_id=organization_id)
        .values_list("role", flat=True)
        .first()
    )


@database_sync_to_async
def _session_exists(session: Any) -> bool:
    return session is None or session.session_key is None or session.exists(session.session_key)


class OrganizationLiveConsumer(AsyncWebsocketConsumer):
    organization_id: int = 0
    is_admin: bool = False
    last_id: int = 0
    joined: tuple[str, ...] = ()
    closing: bool = False
    ticker: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.organization_id = int(self.scope["url_route"]["kwargs"]["organization_id"])
        # Accept, then close with a code (as the project socket does): the page tells them apart.
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_SIGNED_OUT)
            return
        role = await _role(user, self.organization_id)
        if role is None:
            await self._refuse(CLOSE_FORBIDDEN)
            return
        self.is_admin = role_at_least(role, Role.ADMIN)
        self.joined = (live.organization_group_name(self.organization_id), live.user_group_name(user.pk))
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        await self._send({"type": "hello", "cursor": str(self._next_id()), "gap": "after" in params})
        self.ticker = asyncio.create_task(self._tick())

    async def _refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if self.ticker is not None and self.ticker is not asyncio.current_task():
            self.ticker.cancel()
        for group in self.joined:
            with contextlib.suppress(Exception):  # Redis gone: the group entry expires by itself
                await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Pages send nothing here (the tail of project sockets has no meaning for an org)."""

    # --- channel layer -> socket -------------------------------------------------------------

    async def live_org(self, message: dict[str, Any]) -> None:
        event = dict(message.get("event") or {})
        if message.get("admins_only") and not self.is_admin:
            return
        event["id"] = str(self._next_id())
        await self._send({"type": "events", "events": [event]})

    async def live_access(self, message: dict[str, Any]) -> None:
        await self._recheck()

    def _next_id(self) -> int:
        self.last_id = max(self.last_id + 1, time.time_ns() // 1000)
        return self.last_id

    # --- access ------------------------------------------------------------------------------

    async def _tick(self) -> None:
        while not self.closing:
            await asyncio.sleep(RECHECK_SECONDS)
            await self._recheck()

    async def _recheck(self) -> None:
        if self.closing:
            return
        try:
            if not await _session_exists(self.scope.get("session")):
                await self._close(CLOSE_SIGNED_OUT)
                return
            role = await _role(self.scope["user"], self.organization_id)
            if role is None:
                await self._close(CLOSE_FORBIDDEN)
            else:
                self.is_admin = role_at_least(role, Role.ADMIN)
        except Exception:
            logger.exception(
                "live: membership re-check failed", extra={"organization_id": self.organization_id}
            )

    async def _close(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=code)

    async def _send(self, content: dict[str, Any]) -> None:
        if not self.closing:
            await self.send(text_data=orjson.dumps(content).decode())
