"""WebSocket /ws/projects/{id}/live/?after=<cursor>&tail=<query>: a project's live events for its members.

Protocol (the page side is static/js/live.js; events are built in apps.dashboards.live):

* Connect with the session cookie. Close codes: 4401 not signed in (or signed out since),
  4403 not a member of the project's organization, no such project, or membership removed
  since — indistinguishable on purpose, as 404s are elsewhere. 1011 when Redis fails (the
  page reconnects and resumes).
* Server -> page, JSON text frames:
  - `{"type": "events", "events": [EVENT, ...]}`: at most one frame per FRAME_INTERVAL per
    socket, events in id order, each exactly once. EVENT is described in apps.dashboards.live;
    logs events carry `lines` (only those matching this socket's tail query) and `lines_omitted`
    only while a tail is on.
  - `{"type": "hello", "cursor": "<id>", "gap": bool}` once, right after the events replayed
    for `?after=<id>` (the last id the page saw). `gap` says the replay buffer (a Redis stream)
    no longer held everything since then, or `after` was not a cursor of ours: refetch.
  - `{"type": "gap", "cursor": "<id>"}` later, when events were lost while connected (the
    socket fell behind the buffer, or announcements were skipped while Redis was down).
  - `{"type": "tail", "ok": true, "q": ...}` or `{"type": "tail", "ok": false, "message",
    "position", "expected"}` in answer to a tail request (a refused query keeps the old filter).
* Page -> server: `{"type": "tail", "q": "<query>"}` starts or replaces the tail filter (the log
  search language, "" = every line), `{"type": "tail", "q": null}` stops it. `?tail=<query>` in
  the URL does the same from the start, so lines replayed on a resume are filtered too.

How a socket stays current: the process's _Follower reads new events from the streams of its
sockets' projects (one blocking XREAD) and offers them to each socket, which sends what continues
its cursor at most once per FRAME_INTERVAL, so a flood of batches becomes a few frames a second;
anything that does not continue the cursor (a socket that connected while others were ahead, or
fell behind) is read from the stream by the socket itself, which also tells a gap. A timer reads
the stream every POLL_SECONDS as a backstop. Access changes travel over the Channels layer: the
socket joins its project's group and its user's group, and a `live.access` message (membership
removed, organization or project deleted) makes it re-check membership at once; the timer also
re-checks the session and membership every RECHECK_SECONDS, for changes no message announced.

Everything in a frame is data, never markup: pages render it with textContent (static/js/dash.js).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from typing import Any
from urllib.parse import parse_qs

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from redis import asyncio as aioredis

from apps.dashboards import live
from apps.logs.matcher import Predicate, compile_matcher
from apps.logs.query import QuerySyntaxError, parse
from apps.projects.models import Project

logger = logging.getLogger(__name__)

FRAME_INTERVAL = 0.25
POLL_SECONDS = 10.0
RECHECK_SECONDS = 30.0
READ_EVENTS = 200  # events read per frame; a socket further behind catches up frame by frame
REPLAY_EVENTS = 500  # more than the stream holds (live.STREAM_LENGTH, trimmed approximately)
LINES_PER_FRAME = 1000
INBOX_EVENTS = 2000  # events waiting for a socket's next frame; a socket that falls further behind re-reads
FOLLOW_EVENTS = 500  # per stream and XREAD
FOLLOW_BLOCK_MS = 200  # how long the follower's XREAD waits; a newly watched project joins after this at most
MAX_FRAME_FROM_PAGE = 8192
CLOSE_SIGNED_OUT, CLOSE_FORBIDDEN, CLOSE_SERVER_ERROR = 4401, 4403, 1011

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def _redis() -> Any:
    """One Redis client per event loop (a uvicorn worker has one) for reading the streams."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
        _clients[loop] = client
    return client


@database_sync_to_async
def _is_member(user: Any, project_id: int) -> bool:
    return Project.objects.for_member(user).filter(pk=project_id).exists()


@database_sync_to_async
def _session_exists(session: Any) -> bool:
    return session is None or session.session_key is None or session.exists(session.session_key)


class _Follower:
    """Follows the streams of the projects this process's sockets watch: one blocking XREAD for all
    of them, each new event decoded once and offered to every local socket of its project.

    Why not a Channels group message per event: channels_redis delivers a group message to each
    socket separately, at several Redis round trips per socket, and with 10 pages per project that
    was most of the fan-out's cost (bench/LIVE_RESULTS.md). The follower costs one round trip per
    wake-up per process. Its position per project only says where to read next; each socket checks
    that what it is offered continues its own cursor and reads the stream itself when it does not.
    """

    def __init__(self) -> None:
        self.sockets: dict[int, set[ProjectLiveConsumer]] = {}
        self.positions: dict[int, int] = {}
        self.task: asyncio.Task[None] | None = None

    def watch(self, project_id: int, socket: ProjectLiveConsumer, cursor: int) -> None:
        self.sockets.setdefault(project_id, set()).add(socket)
        self.positions.setdefault(project_id, cursor)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._follow())

    def unwatch(self, project_id: int, socket: ProjectLiveConsumer) -> None:
        sockets = self.sockets.get(project_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self.sockets[project_id]
                self.positions.pop(project_id, None)

    def rewind(self, project_id: int, cursor: int) -> None:
        """A socket found the stream behind us (Redis lost its data): follow from its cursor."""
        if project_id in self.positions:
            self.positions[project_id] = min(self.positions[project_id], cursor)

    async def _follow(self) -> None:
        # Never cancelled: it ends by itself once no socket watches anything (a cancelled blocking
        # read could hang the process's shutdown, see CHANNEL_LAYERS in config/settings.py).
        while self.sockets:
            keys = {live.stream_key(project_id): project_id for project_id in self.positions}
            streams = {key: f"{self.positions[project_id]}-0" for key, project_id in keys.items()}
            try:
                found = await _redis().xread(streams, count=FOLLOW_EVENTS, block=FOLLOW_BLOCK_MS)
            except Exception:
                logger.warning("live: following the streams failed; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            for key, entries in found or ():
                project_id = keys[key.decode() if isinstance(key, bytes) else key]
                if project_id not in self.sockets or not entries:
                    continue
                events = [live.decode_entry(project_id, entry_id, fields) for entry_id, fields in entries]
                self.positions[project_id] = int(events[-1]["id"])
                for socket in list(self.sockets[project_id]):
                    socket.offer(events)


_followers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Follower] = weakref.WeakKeyDictionary()


def _follower() -> _Follower:
    loop = asyncio.get_running_loop()
    follower = _followers.get(loop)
    if follower is None:
        follower = _followers[loop] = _Follower()
    return follower


class TailQueryError(ValueError):
    def __init__(self, message: str, position: int, expected: str) -> None:
        super().__init__(message)
        self.position, self.expected = position, expected


def tail_predicate(q: str) -> Predicate:
    """The matcher of a tail query; TailQueryError (with position and expected) when it is invalid."""
    for position, char in enumerate(q):
        if "\ud800" <= char <= "\udfff":
            raise TailQueryError("The query contains an invalid character.", position, "a valid character")
    try:
        return compile_matcher(parse(q))
    except QuerySyntaxError as exc:
        raise TailQueryError(str(exc), exc.position, exc.expected) from None


class ProjectLiveConsumer(AsyncWebsocketConsumer):
    project_id: int = 0
    cursor: int = 0
    tail: Predicate | None = None
    # Events up to this id were published before this socket's tail began (live.tailing_key):
    # their lines were not built, and the page's reload on starting the tail shows them.
    tail_since: int = 0
    joined: tuple[str, ...] = ()
    closing: bool = False
    last_frame: float = 0.0
    read_again: bool = False
    must_read: bool = False
    inbox: list[dict[str, Any]]
    flusher: asyncio.Task[None] | None = None
    ticker: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.inbox = []
        user = self.scope.get("user")
        self.project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        # Accept, then close with a code: a refusal before accept is a bare HTTP 403 to the
        # browser, and the page could not tell "sign in again" (4401) from "no access" (4403).
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_SIGNED_OUT)
            return
        if not await _is_member(user, self.project_id):
            await self._refuse(CLOSE_FORBIDDEN)
            return
        # Groups carry access changes (membership removed, project deleted) to this socket.
        self.joined = (live.group_name(self.project_id), live.user_group_name(user.pk))
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        tail_answer = self._set_tail(params["tail"][0]) if "tail" in params else None
        await self._keep_tailing()
        try:
            await self._replay(params.get("after", [None])[0])
        except Exception:
            logger.exception("live: replay failed", extra={"project_id": self.project_id})
            await self._close(CLOSE_SERVER_ERROR)
            return
        if tail_answer is not None:
            await self._send(tail_answer)
        self.ticker = asyncio.create_task(self._tick())

    async def _refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def _replay(self, after: str | None) -> None:
        redis = _redis()
        cursor = int(after) if after is not None and after.isdigit() and len(after) < 19 else None
        if cursor is None:
            # No cursor (first connect) or not one of ours: start from now; a bad cursor is a gap.
            self.cursor, gap = await live.last_id(redis, self.project_id), after is not None
        else:
            read = await live.read_after(redis, self.project_id, cursor, REPLAY_EVENTS)
            self.cursor, gap = read.cursor, read.gap
            if read.events:
                await self._send_events(read.events)
            self.read_again = len(read.events) >= REPLAY_EVENTS
        await self._send({"type": "hello", "cursor": str(self.cursor), "gap": gap})
        self.last_frame = asyncio.get_running_loop().time()
        _follower().watch(self.project_id, self, self.cursor)
        if self.read_again:
            self.must_read = True
            self._read_soon()

    async def disconnect(self, code: int) -> None:
        self.closing = True
        _follower().unwatch(self.project_id, self)
        for task in (self.flusher, self.ticker):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        for group in self.joined:
            with contextlib.suppress(Exception):  # Redis gone: the group entry expires by itself
                await self.channel_layer.group_discard(group, self.channel_name)

    # --- page -> server ----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_FRAME_FROM_PAGE:
            return
        try:
            content = json.loads(text_data)  # json, not orjson: a lone surrogate is answered, not dropped
        except ValueError:
            return
        if isinstance(content, dict) and content.get("type") == "tail":
            q = content.get("q")
            if q is None or isinstance(q, str):
                starts = self.tail is None
                answer = self._set_tail(q)
                await self._keep_tailing()  # before the answer: lines are built from now on
                if starts and self.tail is not None:
                    self.tail_since = await self._last_id()
                await self._send(answer)

    async def _last_id(self) -> int:
        try:
            return await live.last_id(_redis(), self.project_id)
        except Exception:  # Redis down: count every line not sent, as before any tail
            return 0

    async def _keep_tailing(self) -> None:
        """While this socket tails, the project's publishers build lines (live.tailing_key)."""
        if self.tail is None:
            return
        try:
            await _redis().set(live.tailing_key(self.project_id), 1, ex=live.TAILING_TTL_SECONDS)
        except Exception:  # Redis down: nothing is published either; the next tick sets it again
            logger.warning("live: could not mark the project tailed", extra={"project_id": self.project_id})

    def _set_tail(self, q: str | None) -> dict[str, Any]:
        if q is None:
            self.tail = None
            return {"type": "tail", "ok": True, "q": None}
        try:
            self.tail = tail_predicate(q)
        except TailQueryError as exc:
            return {
                "type": "tail",
                "ok": False,
                "message": str(exc),
                "position": exc.position,
                "expected": exc.expected,
            }
        return {"type": "tail", "ok": True, "q": q}

    # --- channel layer -> socket -------------------------------------------------------------

    async def live_access(self, message: dict[str, Any]) -> None:
        await self._recheck()

    # --- reading the stream ------------------------------------------------------------------

    def offer(self, events: list[dict[str, Any]]) -> None:
        """Events the process's follower read from the stream (in id order); sent at the next frame."""
        if self.closing:
            return
        fresh = [event for event in events if int(event["id"]) > self.cursor]
        if len(self.inbox) + len(fresh) > INBOX_EVENTS:
            self.inbox, self.must_read = [], True  # a stalled socket re-reads the stream instead
        else:
            self.inbox.extend(fresh)
        self._read_soon()

    def _read_soon(self) -> None:
        if self.closing:
            return
        if self.flusher is not None and not self.flusher.done():
            self.read_again = True
            return
        self.flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self.closing:
                wait = self.last_frame + FRAME_INTERVAL - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.read_again = False
                events, more = await self._next_events()
                if self.closing:
                    return
                if events:
                    self.cursor = int(events[-1]["id"])
                    await self._send_events(events)
                    self.last_frame = loop.time()
                if not (self.read_again or more or self.inbox):
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("live: reading the stream failed", extra={"project_id": self.project_id})
            await self._close(CLOSE_SERVER_ERROR)

    async def _next_events(self) -> tuple[list[dict[str, Any]], bool]:
        """The events right after the cursor, without a hole: from the inbox when it continues the
        cursor, else read from the stream (which also tells a hole that cannot be filled: a gap)."""
        inbox, self.inbox = [e for e in self.inbox if int(e["id"]) > self.cursor], []
        continuous = 0
        while continuous < len(inbox) and int(inbox[continuous]["id"]) == self.cursor + continuous + 1:
            continuous += 1
        if continuous and not self.must_read:
            self.inbox = inbox[continuous:]
            return inbox[:continuous], False
        if not inbox and not self.must_read:
            return [], False
        self.must_read = False
        read = await live.read_after(_redis(), self.project_id, self.cursor, READ_EVENTS)
        if read.gap:
            # The page continues from just before the first event it is about to get.
            resume = int(read.events[0]["id"]) - 1 if read.events else read.cursor
            await self._send({"type": "gap", "cursor": str(resume)})
            _follower().rewind(self.project_id, resume)
            self.cursor = resume
        self.inbox = [e for e in inbox if int(e["id"]) > read.cursor]
        return read.events, len(read.events) >= READ_EVENTS

    async def _send_events(self, events: list[dict[str, Any]]) -> None:
        room = LINES_PER_FRAME
        frame = []
        for event in events:
            shown, room = self._for_this_socket(event, room)
            frame.append(shown)
        await self._send({"type": "events", "events": frame})

    def _for_this_socket(self, event: dict[str, Any], room: int) -> tuple[dict[str, Any], int]:
        """The event as this socket sees it: lines only while tailing, and only matching ones."""
        shown = {name: value for name, value in event.items() if name not in ("lines", "lines_omitted")}
        if event.get("kind") != "logs" or self.tail is None:
            return shown, room
        if "lines" not in event and int(event["id"]) <= self.tail_since:
            shown["lines"], shown["lines_omitted"] = [], 0  # published before the tail began
            return shown, room
        matching = [line for line in event.get("lines", ()) if self.tail(line)]
        shown["lines"] = matching[:room]
        shown["lines_omitted"] = event.get("lines_omitted", 0) + max(0, len(matching) - room)
        return shown, max(0, room - len(matching))

    # --- access ------------------------------------------------------------------------------

    async def _tick(self) -> None:
        checked = 0.0
        while not self.closing:
            await asyncio.sleep(POLL_SECONDS)
            await self._keep_tailing()
            self.must_read = True  # backstop: whatever the follower may have missed
            self._read_soon()
            checked += POLL_SECONDS
            if checked >= RECHECK_SECONDS:
                checked = 0.0
                await self._recheck()

    async def _recheck(self) -> None:
        if self.closing:
            return
        try:
            if not await _session_exists(self.scope.get("session")):
                await self._close(CLOSE_SIGNED_OUT)
            elif not await _is_member(self.scope["user"], self.project_id):
                await self._close(CLOSE_FORBIDDEN)
        except Exception:
            logger.exception("live: membership re-check failed", extra={"project_id": self.project_id})

    async def _close(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=code)

    async def _send(self, content: dict[str, Any]) -> None:
        if not self.closing:
            await self.send(text_data=orjson.dumps(content).decode())
