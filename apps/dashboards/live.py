"""Live fan-out: telling a project's open dashboards, within a fraction of a second, what was stored.

Design note (the protocol the browser sees is in apps.dashboards.consumers).

* What travels. After COMMIT, ingestion calls `announce_batch(project_id, batch)`; the batch
  becomes one compact EVENT per kind: logs (count, per-level counts, services, ts range and the
  lines themselves, bounded), metrics (count, metric names), spans (count, errors, services, a few
  trace ids; built in apps.dashboards.events). Lines are records in the exact shape of the search
  API's, so the live tail and a search render the same thing. Bounds keep a Redis message small:
  at most LINES_PER_EVENT lines and LINE_BUDGET bytes of them, and no line over LINE_MAX_BYTES;
  `lines_omitted` counts what did not fit, and the page says so.
* Where it goes. Each event is appended to the project's Redis stream with an id from a per-project
  counter (one Lua script: INCR, XADD ... MAXLEN ~ STREAM_LENGTH), so ids are consecutive integers.
  The stream is the only source of events for sockets: each web process follows the streams of
  its sockets' projects with a blocking XREAD (apps.dashboards.consumers). Reading the stream, not
  receiving messages, is what gives every socket all events exactly once and in id order,
  whichever of several web processes published them; and resuming a socket (`?after=<id>`) is
  the same read. Consecutive ids make a gap visible: an id missing from the stream was trimmed
  (or skipped on purpose, see the breaker), and the page must refetch.
* Lines only for a tail. Building a logs event's lines is most of publishing it, and they are most
  of what Redis holds (up to STREAM_LENGTH events of LINE_BUDGET bytes per busy project). They are
  built only while one of the project's sockets tails: such a socket keeps `tailing_key` alive
  (TAILING_TTL_SECONDS, refreshed by apps.dashboards.consumers), and sets it before it answers the
  tail request. An event published while nobody tailed counts its lines in `lines_omitted`:
  a socket whose tail began after it says none (the page reloads its first page when it starts
  a tail), one that resumes with its tail after the key expired says how many it was not sent.
* Throttle. Per (project, kind), an event is published at once if none was in the last
  THROTTLE_SECONDS (leading edge); batches that arrive within the interval are folded into one
  pending event published when the interval ends (trailing flush, a timer) — nothing waits for a
  next batch that may never come.
* Never in ingestion's way. `announce*` only hands the rows to a publisher thread (its own
  asyncio loop) and returns; building the event and Redis happen there. When
  Redis fails, a breaker skips announcements for BREAKER_SECONDS; the project's next event then
  skips an id, so open pages learn that something was missed. A project that sends nothing more
  would leave its pages unaware: once the breaker closes, the counters of the projects whose
  announcements were dropped are bumped (RESYNC_SCRIPT), and the sockets' periodic read reports
  the gap.
* Organizations. `announce_organization(org_id, notice)` sends a small notice over the Channels
  layer to the organization's group, which the org-wide pages' sockets join
  (apps.dashboards.org_consumer): an alerts event of a project also tells its organization.
* Access changes. `access_changed(user_ids, project_ids)` (called on commit by
  apps.projects.services) sends `live.access` over the Channels layer to the users' and projects'
  groups: their sockets re-check membership at once.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from channels.layers import get_channel_layer
from django.conf import settings
from redis import asyncio as aioredis

# Event building lives in apps.dashboards.events; re-exported here, the module callers know.
from apps.dashboards.events import (  # noqa: F401
    LINE_BUDGET,
    LINE_MAX_BYTES,
    LINES_PER_EVENT,
    NAMES_PER_EVENT,
    LiveEvent,
    _event,
    finish,
    log_line,
    logs_event,
    merge,
    metrics_event,
    spans_event,
)
from apps.ingestion.batch import Batch

logger = logging.getLogger(__name__)

THROTTLE_SECONDS = 0.25
BREAKER_SECONDS = 5.0
STREAM_LENGTH = 300  # events kept per project for resuming sockets (approximate: MAXLEN ~)
STREAM_TTL_MS = 7 * 24 * 3600 * 1000  # an idle project's stream and counter expire together
TAILING_TTL_SECONDS = 30  # three of a tailing socket's refreshes (consumers.POLL_SECONDS)
SUMMARY_FIELDS = {"levels", "services", "ts_min", "ts_max", "names", "errors", "trace_ids", "transitions"}
KINDS = {"logs": "logs", "metrics": "metrics", "spans": "spans", "traces": "spans"}

# KEYS: stream, counter. ARGV: event JSON, MAXLEN, TTL ms, ids to skip first (1 after dropped events).
PUBLISH_SCRIPT = """
local skip = tonumber(ARGV[4])
if skip > 0 then redis.call('INCRBY', KEYS[2], skip) end
local id = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], id .. '-0', 'e', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return id
"""
# KEYS: counter. ARGV: TTL ms. An id that will never be in the stream: a gap for open pages.
RESYNC_SCRIPT = """
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
"""


def group_name(project_id: int) -> str:
    return f"project-{int(project_id)}-live"


def user_group_name(user_id: int) -> str:
    return f"user-{int(user_id)}-live"


def organization_group_name(organization_id: int) -> str:
    return f"org-{int(organization_id)}-live"


def stream_key(project_id: int) -> str:
    return f"vigil:live:{int(project_id)}:events"


def counter_key(project_id: int) -> str:
    return f"vigil:live:{int(project_id)}:id"


def tailing_key(project_id: int) -> str:
    """Present while a socket of the project tails (see "Lines only for a tail")."""
    return f"vigil:live:{int(project_id)}:tailing"


# --- Building events from a committed batch ---------------------------------------------------


def announce_batch(project_id: int, batch: Batch) -> None:
    """Announce what a committed batch stored. Returns at once; never raises."""
    at = int(time.time() * 1000)
    if batch.logs:
        _publisher.offer_rows(project_id, "logs", batch.logs, at, None)
    if batch.spans:
        _publisher.offer_rows(project_id, "spans", batch.spans, at, None)
    if batch.points:
        _publisher.offer_rows(project_id, "metrics", batch.points, at, batch.series)


def announce(project_id: int, kind: str, payload: dict[str, Any]) -> None:
    """Announce an event given as a summary payload (at least `count`; kinds logs, metrics, spans,
    traces, or alerts with its `transitions`). Lines travel only with announce_batch: here a tail
    is told they were omitted."""
    event = _event(KINDS.get(kind, kind), int(payload.get("count", 0)), int(time.time() * 1000))
    summary = {name: value for name, value in payload.items() if name in SUMMARY_FIELDS}
    event.update(cast(LiveEvent, summary))
    if event["kind"] == "logs":
        event["lines_omitted"] = event["count"]
    _publisher.offer(project_id, event)
    if event["kind"] == "alerts":
        # The org home's incidents cell of this project follows its incidents.
        try:
            organization_id = _organization_of(project_id)
        except Exception:  # the database is the caller's trouble, not the announcement's
            logger.exception("live: could not find the project's organization")
            return
        if organization_id is not None:
            announce_organization(organization_id, {"kind": "alerts", "project": project_id})


def announce_organization(organization_id: int, event: dict[str, Any], admins_only: bool = False) -> None:
    """A notice to the open org-wide pages of an organization (apps.dashboards.org_consumer):
    small, e.g. {"kind": "channels", "channel": 3}; they refetch what it concerns. Returns at
    once; never raises."""
    message = {"type": "live.org", "event": event, "admins_only": admins_only}
    _publisher.submit_groups([organization_group_name(organization_id)], message)


_organizations: dict[int, int] = {}  # project id -> its organization's (a project never moves)


def _organization_of(project_id: int) -> int | None:
    if project_id not in _organizations:
        from apps.projects.models import Project

        found = Project.objects.filter(pk=project_id).values_list("organization_id", flat=True).first()
        if found is None:
            return None
        _organizations[project_id] = found
    return _organizations[project_id]


def access_changed(user_ids: Iterable[int] = (), project_ids: Iterable[int] = ()) -> None:
    """Ask the open sockets of these users / projects to re-check membership now (call on commit)."""
    groups = [user_group_name(u) for u in user_ids] + [group_name(p) for p in project_ids]
    if groups:
        _publisher.submit_groups(groups, {"type": "live.access"})


# --- Publishing: one thread with its own event loop per process --------------------------------


@dataclass
class _Slot:
    """Throttle state of one (project, kind)."""

    last_sent: float = -1e9
    pending: LiveEvent | None = None
    timer: asyncio.TimerHandle | None = None
    sending: bool = False


@dataclass
class _Publisher:
    loop: asyncio.AbstractEventLoop | None = None
    pid: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    slots: dict[tuple[int, str], _Slot] = field(default_factory=dict)
    down_until: float = 0.0
    missed: set[int] = field(default_factory=set)  # projects whose announcements were dropped
    redis: Any = None
    script: Any = None
    resync_script: Any = None
    resync_timer: asyncio.TimerHandle | None = None  # bumps the missed projects' counters
    redis_url: str = ""
    busy: int = 0  # offers and sends not finished yet (drain waits for 0)
    # Group sends go out one after another, in the order they were handed over: each is its own
    # task, and two tasks' awaits interleave, so a later notice could otherwise overtake.
    group_send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    # -- called from any thread --

    def offer_rows(
        self, project_id: int, kind: str, rows: list[Any], at: int, series: dict[bytes, Any] | None
    ) -> None:
        self._call(self._build_and_offer, project_id, kind, rows, at, series)

    def offer(self, project_id: int, event: LiveEvent) -> None:
        self._call(self._offer, project_id, event)

    def submit_groups(self, groups: list[str], message: dict[str, Any]) -> None:
        self._call(self._spawn, self._group_send(groups, message))

    def _call(self, function: Any, *args: Any) -> None:
        try:
            loop = self._running_loop()
            with self.lock:
                self.busy += 1
            loop.call_soon_threadsafe(self._run, function, args)
        except Exception:  # the publisher must never break the caller
            logger.exception("live: could not hand over an announcement")

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is None or self.pid != os.getpid() or self.loop.is_closed():
                # First use in this process (or a forked child, which inherits no thread).
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="vigil-live", daemon=True).start()
                self.loop, self.pid, self.slots, self.redis, self.busy = loop, os.getpid(), {}, None, 0
                self.resync_timer, self.group_send_lock = None, asyncio.Lock()
            return self.loop

    def drain(self, timeout: float = 2.0) -> bool:
        """Wait until handed-over announcements are published (tests, process exit)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.busy == 0:
                    return True
            time.sleep(0.01)
        return False

    def reset(self) -> None:
        with self.lock:
            loop = self.loop
        if loop is not None and self.pid == os.getpid():
            done = threading.Event()

            def clear() -> None:
                for slot in self.slots.values():
                    if slot.timer is not None:
                        slot.timer.cancel()
                        self._done()
                self.slots.clear()
                self.down_until, self.redis = 0.0, None
                self.missed.clear()
                if self.resync_timer is not None:
                    self.resync_timer.cancel()
                    self.resync_timer = None
                done.set()

            loop.call_soon_threadsafe(clear)
            done.wait(2)

    # -- on the publisher's loop --

    def _run(self, function: Any, args: tuple[Any, ...]) -> None:
        try:
            function(*args)
        except Exception:
            logger.exception("live: announcement failed")
        finally:
            self._done()

    def _done(self) -> None:
        with self.lock:
            self.busy -= 1

    def _spawn(self, coroutine: Any) -> None:
        with self.lock:
            self.busy += 1
        task = asyncio.get_running_loop().create_task(coroutine)
        task.add_done_callback(lambda _: self._done())

    def _build_and_offer(
        self, project_id: int, kind: str, rows: list[Any], at: int, series: dict[bytes, Any] | None
    ) -> None:
        if kind == "logs":
            event = logs_event(rows, at)
        elif kind == "spans":
            event = spans_event(rows, at)
        else:
            event = metrics_event(rows, series or {}, at)
        self._offer(project_id, event)

    def _offer(self, project_id: int, event: LiveEvent) -> None:
        assert self.loop is not None
        if time.monotonic() < self.down_until:
            self.missed.add(project_id)
            self._resync_later()
            return
        slot = self.slots.setdefault((project_id, event["kind"]), _Slot())
        slot.pending = event if slot.pending is None else merge(slot.pending, event)
        self._schedule(project_id, event["kind"], slot)

    def _schedule(self, project_id: int, kind: str, slot: _Slot) -> None:
        if slot.timer is not None or slot.sending or slot.pending is None:
            return
        assert self.loop is not None
        delay = slot.last_sent + THROTTLE_SECONDS - self.loop.time()
        if delay <= 0:
            self._send_pending(project_id, kind)
        else:
            with self.lock:
                self.busy += 1  # a trailing flush is still owed
            slot.timer = self.loop.call_later(delay, self._flush_timer, project_id, kind)

    def _flush_timer(self, project_id: int, kind: str) -> None:
        slot = self.slots.get((project_id, kind))
        if slot is not None:
            slot.timer = None
            self._send_pending(project_id, kind)
        self._done()

    def _send_pending(self, project_id: int, kind: str) -> None:
        assert self.loop is not None
        slot = self.slots[(project_id, kind)]
        if slot.pending is None:
            return
        event, slot.pending = slot.pending, None
        slot.sending, slot.last_sent = True, self.loop.time()
        self._spawn(self._send(project_id, kind, slot, event))

    async def _send(self, project_id: int, kind: str, slot: _Slot, event: LiveEvent) -> None:
        try:
            await self._publish(project_id, event)
        except Exception as exc:  # any transport error: skip, never fail ingestion
            self._trip(exc)
            self.missed.add(project_id)
            self._resync_later()
        finally:
            slot.sending = False
            self._schedule(project_id, kind, slot)

    def _trip(self, exc: Exception) -> None:
        self.down_until = time.monotonic() + BREAKER_SECONDS
        self.redis = None
        logger.warning("live: announcement skipped, Redis unavailable", extra={"error": str(exc)[:200]})

    def _connect(self) -> None:
        if self.redis is None or self.redis_url != settings.REDIS_URL:
            self.redis_url = settings.REDIS_URL
            self.redis = aioredis.Redis.from_url(self.redis_url, socket_timeout=1, socket_connect_timeout=0.5)
            self.script = self.redis.register_script(PUBLISH_SCRIPT)
            self.resync_script = self.redis.register_script(RESYNC_SCRIPT)

    def _resync_later(self) -> None:
        """Once the breaker has closed, tell the missed projects' pages (see the module docstring).
        Not counted by drain(): it is owed to pages, not to the ingestion that was answered."""
        if self.resync_timer is None:
            assert self.loop is not None
            delay = max(0.0, self.down_until - time.monotonic()) + 0.01
            self.resync_timer = self.loop.call_later(delay, self._resync)

    def _resync(self) -> None:
        self.resync_timer = None
        if not self.missed:
            return
        if time.monotonic() < self.down_until:
            self._resync_later()
            return
        self._spawn(self._bump_missed())

    async def _bump_missed(self) -> None:
        try:
            self._connect()
            for project_id in list(self.missed):
                await self.resync_script(keys=[counter_key(project_id)], args=[STREAM_TTL_MS])
                self.missed.discard(project_id)
        except Exception as exc:  # still down: try again when the breaker closes
            self._trip(exc)
            self._resync_later()

    async def _publish(self, project_id: int, event: LiveEvent) -> int:
        if time.monotonic() < self.down_until:
            self.missed.add(project_id)
            self._resync_later()
            return 0
        self._connect()
        skip = 1 if project_id in self.missed else 0
        if "rows" in event and not await self.redis.exists(tailing_key(project_id)):
            event["lines_omitted"] = event.get("lines_omitted", 0) + sum(map(len, event.pop("rows")))
        finish(event)  # builds the log lines (when tailed), once per published event
        stream_id = int(
            await self.script(
                keys=[stream_key(project_id), counter_key(project_id)],
                args=[orjson.dumps(event), STREAM_LENGTH, STREAM_TTL_MS, skip],
            )
        )
        self.missed.discard(project_id)
        return stream_id

    async def _group_send(self, groups: list[str], message: dict[str, Any]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        async with self.group_send_lock:  # FIFO: tasks start, and so queue here, in hand-over order
            for group in groups:
                await layer.group_send(group, message)


_publisher = _Publisher()
atexit.register(_publisher.drain, 1.0)


def drain(timeout: float = 2.0) -> bool:
    """Wait until every announcement handed over so far is published (or skipped)."""
    return _publisher.drain(timeout)


def reset() -> None:
    """Forget throttling and breaker state (tests)."""
    _publisher.reset()


# --- Reading the stream (the consumer's side) -------------------------------------------------


@dataclass
class Read:
    events: list[dict[str, Any]]  # each with "id", in id order
    cursor: int  # the id of the last event read, or the cursor given when none
    gap: bool  # ids between the given cursor and the first event read are gone


# (project, id) -> (entry as stored, decoded event): each entry is decoded once per process however
# many of the project's sockets read it. The stored text is kept to tell a reused id (Redis lost
# its data and the counter restarted) from the cached one.
_decoded: dict[tuple[int, int], tuple[bytes, dict[str, Any]]] = {}
DECODED_CACHE = 2000


def decode_entry(project_id: int, entry_id: bytes | str, fields: dict[Any, Any]) -> dict[str, Any]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    number = int(text.split("-", 1)[0])
    raw = fields.get(b"e") or fields.get("e") or b"{}"
    raw = raw.encode() if isinstance(raw, str) else raw
    cached = _decoded.get((project_id, number))
    if cached is not None and cached[0] == raw:
        return cached[1]
    event = {"id": str(number), **orjson.loads(raw)}
    if len(_decoded) >= DECODED_CACHE:
        for old in list(_decoded)[: DECODED_CACHE // 4]:
            del _decoded[old]
    _decoded[(project_id, number)] = (raw, event)
    return event


async def read_after(redis: Any, project_id: int, cursor: int, count: int = 200) -> Read:
    """Events with id > cursor (at most `count`). A missing id right after the cursor means it was
    trimmed or skipped: `gap`. A counter behind the cursor means Redis lost its data: also a gap."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xrange(stream_key(project_id), min=str(cursor + 1), max="+", count=count)
        pipe.get(counter_key(project_id))
        entries, last = await pipe.execute()
    newest = int(last or 0)
    events = [decode_entry(project_id, entry_id, fields) for entry_id, fields in entries]
    if not events:
        return Read([], newest, newest != cursor)
    return Read(events, int(events[-1]["id"]), int(events[0]["id"]) != cursor + 1)


async def last_id(redis: Any, project_id: int) -> int:
    return int(await redis.get(counter_key(project_id)) or 0)
