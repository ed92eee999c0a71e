"""A scripted page for the live WebSocket tests: a real `websockets` client against the real server,
recording every frame (with its arrival time) so tests can wait for what a page would see."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis
import websockets
from django.conf import settings
from django.test import Client

from apps.dashboards import live


def cookie_for(user, server) -> dict[str, str]:
    """What a page of `server` sends with its handshake: the session cookie and its own origin."""
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}", "Origin": server.url}


def live_url(server, project_id: int, **params: str) -> str:
    from urllib.parse import urlencode

    query = f"?{urlencode(params)}" if params else ""
    return server.url.replace("http", "ws") + f"/ws/projects/{project_id}/live/{query}"


def forget_live_state(*project_ids: int) -> None:
    """Test databases reuse project ids from earlier runs; their streams must not leak in."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for project_id in project_ids:
        client.delete(live.stream_key(project_id), live.counter_key(project_id), live.tailing_key(project_id))


def drop_telemetry(*project_ids: int) -> None:
    """Telemetry tables are not Django models: a transactional test's flush leaves their rows."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("logs_event", "traces_span", "metrics_point", "metrics_series"):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = ANY(%s)", [list(project_ids)])


def stream_ids(project_id: int) -> list[int]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    return [int(entry_id.split(b"-")[0]) for entry_id, _ in client.xrange(live.stream_key(project_id))]


class LiveSocket:
    """async with LiveSocket(url, headers) as socket: await socket.wait_for(lambda s: ...)"""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers = url, headers
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.raw: list[str] = []
        self.close_code: int | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> LiveSocket:
        self.socket = await websockets.connect(self.url, additional_headers=self.headers, open_timeout=5)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.socket.close()
        self._reader.cancel()

    async def _read(self) -> None:
        try:
            async for message in self.socket:
                self.raw.append(message)
                self.frames.append((time.monotonic(), orjson.loads(message)))
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        self.close_code = self.socket.close_code
        self._changed.set()

    async def wait_for(self, condition: Callable[[LiveSocket], Any], timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = condition(self)
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.close_code is not None and self._reader.done()):
                raise AssertionError(f"condition not met; frames: {[f for _, f in self.frames][-10:]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    async def closed(self, timeout: float = 10) -> int | None:
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))  # json: it can send a lone surrogate, as a browser may

    # What a page would have seen so far.
    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [frame for _, frame in self.frames if frame["type"] == kind]

    @property
    def hello(self) -> dict[str, Any] | None:
        hellos = self.of_type("hello")
        return hellos[0] if hellos else None

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for frame in self.of_type("events") for event in frame["events"]]

    def counted(self, kind: str = "logs") -> int:
        return sum(event["count"] for event in self.events if event["kind"] == kind)

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [line for event in self.events for line in event.get("lines", [])]
