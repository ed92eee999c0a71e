"""Process-local caches of what symbolication reads: once a process has seen a project's source
maps, a JavaScript event costs it neither a PostgreSQL query nor the parse of a map (megabytes for
real bundles) — and a release without files costs no query at all.

Design note.
* Parsed files (`parsed`): symbolic's SourceMapView and SourceView objects, keyed by what changes
  with the content — (kind of file, row id, sha1) — in one LRU per process bounded by
  SOURCEMAP_CACHE_BYTES. A re-uploaded file has another sha1 (or row): it is never served stale.
  An entry weighs what it holds in memory, estimated from the bytes it was parsed from (`weight`).
  The same LRU keeps what each symbolicated position became (apps.errors.sourcemaps: symbolic's
  lookup of a function name scans the minified file) and which uploads symbolic cannot parse.
* What a project uploaded (`ProjectFiles`): whether a release has files, which file a URL names,
  the files of a debug id — rows without their bytes — kept per project and valid under the
  project's *upload epoch*, a counter in Redis (`vigil:sourcemaps:epoch:<project id>`) that every
  upload and every retention delete bumps once it is committed (`uploads_changed`).
* Exact, not eventual: an event is symbolicated with what this process knew, and its row keeps the
  epoch that was (`EventRow.sourcemap_epoch`). Before the events' COMMIT, apps.errors.ingest.commit
  reads the epochs of the batch's projects in one MGET (`epochs_now`) — after every event of the
  batch arrived — and symbolicates again the rows made under an older epoch (which happens only
  right after an upload). So an event sent after an upload was answered is symbolicated with it,
  at one Redis round trip per batch, as the key cache's revocation epoch is read
  (apps.projects.authentication.KeyCache).
* A process reads a project's epoch itself (one GET) when it first meets the project and again
  LOOKUP_SECONDS later; with Redis down nothing bumps, and that TTL bounds how stale it gets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.db import DatabaseError, transaction

from apps.storage.redis import shared_client

logger = logging.getLogger(__name__)

EPOCH_KEY = "vigil:sourcemaps:epoch:{}"
LOOKUP_SECONDS = 60.0
MAX_PROJECTS = 10_000
MAX_ENTRIES = 10_000  # looked-up names and debug ids per project: past that, start again
NEVER_BUMPED = b"0"
UNKNOWN = b"?"  # Redis could not be read: the next batch that can read it makes the rows again
# symbolic's SourceMapView keeps tokens, names and sources (the sourcesContent text) decoded:
# measured (RSS) at 2.06 times the JSON of a 1.3 MB terser map, plus 0.12 once its sources were
# read for context lines; a SourceView at 1.0 times its file.
MAP_WEIGHT_PERCENT = 220

BROKEN_WEIGHT = 64
Epoch = bytes
T = TypeVar("T")
_MISSING = object()
_UNUSABLE = object()


class UnusableFile(ValueError):
    """An upload symbolic could not parse (an earlier event found out)."""


class ParsedFiles:
    """Parsed files by content key, the least recently used evicted first, at most
    SOURCEMAP_CACHE_BYTES of them in total (read at each insertion, so it can be changed)."""

    def __init__(self) -> None:
        self.entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key: Hashable, parse: Callable[[], tuple[T, int] | None]) -> T | None:
        """The cached value of `key`, else `parse()`'s (value, weight) — kept if it fits. A None
        from `parse` (the file is gone) is not kept."""
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
                if found[0] is _UNUSABLE:
                    raise UnusableFile(f"{key} could not be parsed")
                return found[0]  # type: ignore[no-any-return]
        try:
            parsed = parse()  # outside the lock: a parse takes milliseconds, other threads go on
        except DatabaseError:
            raise  # storage, not the file: try again next time
        except Exception:
            # A broken upload is not parsed again for every event (its content key is final).
            self._keep(key, _UNUSABLE, BROKEN_WEIGHT)
            raise
        if parsed is None:
            return None
        value, weight = parsed
        self._keep(key, value, weight)
        return value

    def _keep(self, key: Hashable, value: Any, weight: int) -> None:
        limit = settings.SOURCEMAP_CACHE_BYTES
        with self.lock:
            if weight <= limit and key not in self.entries:
                self.entries[key] = (value, weight)
                self.size += weight
                while self.size > limit:
                    _, (_, evicted) = self.entries.popitem(last=False)
                    self.size -= evicted

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.size = 0


@dataclass
class ProjectFiles:
    """What this process read of one project's uploads, valid while its upload epoch is `epoch`."""

    epoch: Epoch
    expires: float  # time.monotonic()
    entries: dict[Hashable, Any] = field(default_factory=dict)

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        found = self.entries.get(key, _MISSING)
        if found is _MISSING:
            found = load()
            self.put(key, found)
        return found  # type: ignore[return-value]

    def find(self, key: Hashable) -> tuple[bool, Any]:
        """(whether `key` is known, its value)."""
        found = self.entries.get(key, _MISSING)
        return (False, None) if found is _MISSING else (True, found)

    def put(self, key: Hashable, value: Any) -> None:
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[key] = value


class UploadCache:
    """Each project's ProjectFiles, replaced when its upload epoch moves."""

    def __init__(self) -> None:
        self.projects: dict[int, ProjectFiles] = {}
        self.lock = threading.Lock()

    def files_of(self, project_id: int) -> ProjectFiles:
        files = self.projects.get(project_id)
        if files is None or files.expires < time.monotonic():
            files = self.start(project_id, _epoch_read(project_id))
        return files

    def start(self, project_id: int, epoch: Epoch) -> ProjectFiles:
        """A project's files known afresh under `epoch` (read from Redis *before* any of its rows)."""
        files = ProjectFiles(epoch, time.monotonic() + LOOKUP_SECONDS)
        with self.lock:
            if len(self.projects) >= MAX_PROJECTS and project_id not in self.projects:
                self.projects.clear()
            self.projects[project_id] = files
        return files

    def forget(self, project_ids: Iterable[int]) -> None:
        with self.lock:
            for project_id in project_ids:
                self.projects.pop(project_id, None)

    def clear(self) -> None:
        with self.lock:
            self.projects.clear()


parsed = ParsedFiles()
uploads = UploadCache()


def _epoch_read(project_id: int) -> Epoch:
    try:
        value = shared_client().get(EPOCH_KEY.format(project_id))
    except redis.RedisError:
        logger.warning("source map cache: redis unavailable, relying on a %ss TTL", LOOKUP_SECONDS)
        return UNKNOWN
    return value if isinstance(value, bytes) else NEVER_BUMPED


def epochs_now(project_ids: Iterable[int]) -> dict[int, Epoch] | None:
    """The upload epochs of these projects now, in one MGET (None when Redis is down); projects
    whose epoch moved are known afresh from now on."""
    ids = sorted(set(project_ids))
    if not ids:
        return {}
    try:
        values = shared_client().mget([EPOCH_KEY.format(project_id) for project_id in ids])
    except redis.RedisError:
        logger.warning("source map cache: redis unavailable, relying on a %ss TTL", LOOKUP_SECONDS)
        return None
    now = {
        project_id: value if isinstance(value, bytes) else NEVER_BUMPED
        for project_id, value in zip(ids, values, strict=True)
    }
    for project_id, epoch in now.items():
        files = uploads.projects.get(project_id)
        if files is not None and files.epoch != epoch:
            uploads.start(project_id, epoch)
    return now


def uploads_changed(project_ids: Iterable[int]) -> None:
    """Files of these projects were uploaded, replaced or deleted: once that is committed, every
    process reads their files afresh before its next batch of events is stored."""
    ids = sorted(set(project_ids))

    def publish() -> None:
        uploads.forget(ids)
        try:
            with shared_client().pipeline(transaction=False) as pipeline:
                for project_id in ids:
                    pipeline.incr(EPOCH_KEY.format(project_id))
                pipeline.execute()
        except redis.RedisError:
            logger.warning(
                "source map cache: could not publish an upload; other processes see it within %ss",
                LOOKUP_SECONDS,
            )

    if ids:
        # This process at once (its own next read is in or after this transaction), every
        # process once committed: an INCR before the COMMIT could be read, and the old rows
        # cached under the new epoch, by another process.
        uploads.forget(ids)
        transaction.on_commit(publish)


def weight(data: bytes, is_map: bool) -> int:
    """About the memory a file parsed from `data` takes."""
    return len(data) * MAP_WEIGHT_PERCENT // 100 if is_map else len(data)


def forget() -> None:
    """Drop everything this process cached (tests start each from nothing)."""
    parsed.clear()
    uploads.clear()
