"""Group commit for the Sentry endpoint: the events of concurrent requests stored together.

Design note. SDKs send one event per envelope, so every event is an HTTP request, and a
transaction per request (BEGIN, the dedup INSERT, the COPY, COMMIT, and its WAL flush) made the
database round trips, not the work, the bound on events/s. Here each web process has one writer
thread. A request's synchronous part (`ingest.prepare`: key, decoding, the rows with their
grouping hashes) runs on the ingestion pool as before; its rows then join the writer's queue and
the request waits. The writer takes everything queued (at most MAX_BATCH_ROWS rows) and stores it
with `ingest.commit` — billing's admission (rate limit, quota, metering) of every envelope of
events in one Redis call, then one transaction, one dedup statement, one COPY for the whole
batch — and only after that COMMIT answers each request of the batch (those the quota or their
rate limit refused with their 429, as alone). No delay is added to gather a batch:
while one batch commits, the next one gathers by itself, so an idle server answers a lone request
as soon as before and a busy one commits hundreds of requests at once.

What it keeps: nothing is acknowledged before it is durable (the answer waits for COMMIT); a
failed batch fails each of its requests (503 + Retry-After, their metering released) and the
SDKs' retries are deduplicated by event_id, also within one batch (`storage.events_write`); a
worker killed mid-batch acknowledged none of it. Events are counted into their issues after
the answer: the process's grouper is woken per project after the COMMIT (apps.errors.grouper).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.db import close_old_connections

from apps.errors import grouper, ingest
from apps.ingestion.transport import Reply

logger = logging.getLogger(__name__)

MAX_BATCH_ROWS = 1000  # one COPY of ~9 MiB: a bound on the batch's memory and on its latency


@dataclass
class _Waiting:
    prepared: ingest.Prepared
    future: asyncio.Future[Reply]
    loop: asyncio.AbstractEventLoop


class GroupCommit:
    """The writer thread of one process, started by the first request that needs it."""

    def __init__(self, stored: Callable[[int], None] = grouper.batcher.notify) -> None:
        self.stored = stored  # called with each project whose events a batch stored
        self.queue: list[_Waiting] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    async def submit(self, prepared: ingest.Prepared) -> Reply:
        """The request's answer, once its events are committed (or their batch failed)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        with self.lock:
            self.queue.append(_Waiting(prepared, future, loop))
            if self.thread is None:
                self.thread = threading.Thread(target=self.run, name="vigil-errors-commit", daemon=True)
                self.thread.start()
            if not self.wake.is_set():  # (setting it takes its condition's lock and notifies)
                self.wake.set()
        return await future

    def take(self) -> list[_Waiting]:
        """The oldest queued requests, up to MAX_BATCH_ROWS rows (at least one request)."""
        with self.lock:
            rows = 0
            taken = 0
            for waiting in self.queue:
                if taken and rows + len(waiting.prepared.rows) > MAX_BATCH_ROWS:
                    break
                rows += len(waiting.prepared.rows)
                taken += 1
            batch, self.queue = self.queue[:taken], self.queue[taken:]
            if not self.queue:
                self.wake.clear()  # under the lock: a request queued after this sets it again
            return batch

    def run(self) -> None:
        while True:
            self.wake.wait()
            batch = self.take()
            if batch:
                try:
                    self.write(batch)
                except Exception:  # the thread must outlive any batch: requests wait on it
                    logger.exception("errors group commit: answering a batch failed")

    def write(self, batch: list[_Waiting]) -> None:
        try:
            replies = ingest.commit([waiting.prepared for waiting in batch])
        except Exception:  # (commit answers every failure itself: this is a bug, not an outage)
            logger.exception("errors group commit: a batch failed")
            replies = [ingest.internal_error()] * len(batch)
        finally:
            close_old_connections()  # a broken connection is replaced before the next batch
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Reply], Reply]]] = {}
        for waiting, reply in zip(batch, replies, strict=True):
            by_loop.setdefault(waiting.loop, []).append((waiting.future, reply))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_answer, answers)  # one wake-up of the event loop per batch
            except RuntimeError:  # that loop is closed (its server stopped): nobody waits any more
                logger.warning("errors group commit: answers for a closed event loop dropped")
        stored = {w.prepared.admitted.project_id for w in batch if w.prepared.stored}
        for project_id in sorted(stored):
            self.stored(project_id)  # its events are stored: group them soon


def _answer(answers: list[tuple[asyncio.Future[Reply], Reply]]) -> None:
    for future, reply in answers:
        if not future.done():  # (cancelled: the server gave up on the request)
            future.set_result(reply)


writer = GroupCommit()
