"""WebSocket consumer of /ws/projects/{id}/live/: session-authenticated members only.

Close codes: 4401 not signed in, 4403 not a member of the project's organization (or no such
project — the two are indistinguishable on purpose, as 404s are elsewhere).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.dashboards.live import group_name
from apps.projects.models import Project


@database_sync_to_async
def _is_member(user: Any, project_id: int) -> bool:
    return Project.objects.for_member(user).filter(pk=project_id).exists()


class ProjectLiveConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        # Accept, then close with a code: a refusal before accept is a bare HTTP 403 to the
        # browser, and the page could not tell "sign in again" (4401) from "no access" (4403).
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=4401)
            return
        if not await _is_member(user, project_id):
            await self.accept()
            await self.close(code=4403)
            return
        self.group = group_name(project_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Listeners only listen; messages from the browser are ignored."""

    async def live_event(self, event: dict[str, Any]) -> None:
        await self.send_json({"kind": event["kind"], **event["payload"]})
