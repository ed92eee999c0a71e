"""The Sentry ingestion endpoints, framework-free: `POST /api/<project_id>/envelope/` and the
legacy `/api/<project_id>/store/`. Served by the ASGI fast path (apps.errors.asgi), because
@sentry/node sends chunked bodies without Content-Length.

Answers follow what SDKs do with them (https://develop.sentry.dev/sdk/expected-features/rate-limiting/):
200 — stored or knowingly dropped; 400 malformed, 401 no key, 403 bad key (SDKs drop the event
and log); 413 too large; 429 with `Retry-After` and `X-Sentry-Rate-Limits` naming the refused
categories only (the SDK then holds back those categories — a flood of transactions never stops
errors); 503 with `Retry-After` when storage is down (the SDK retries later). Every answer
carries CORS headers, so browser SDKs can read the rate-limit headers.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import brotli
import orjson
import psycopg
import zstandard
from django.db import DatabaseError, DataError, IntegrityError

from apps.api.errors import error_body
from apps.billing.quota import WatchMoved
from apps.errors import (
    admission,
    attachments,
    checkins,
    envelope,
    services,
    sessions,
    storage,
    symbol_cache,
    telemetry,
)
from apps.errors.admission import CATEGORIES, Admitted
from apps.errors.models import DsnKey
from apps.ingestion import transport
from apps.ingestion.transport import JSON_TYPE, IngestError, IngestRequest, Reply
from apps.projects.authentication import KEY_EPOCH, KeyCache

logger = logging.getLogger(__name__)

ROUTE = re.compile(r"^/api/(\d{1,18})/(envelope|store)/?$")
RETRY_AFTER_SECONDS = 30
ENCODINGS = ("", "identity", "gzip", "x-gzip", "deflate", "br", "zstd")
TELEMETRY = {
    "transaction": telemetry.spans_store,
    "log": telemetry.logs_store,
    "check_in": checkins.checkin_store,
    "session": sessions.session_count,
    "sessions": sessions.sessions_count,
}
# Item types stored from their raw bytes, with the envelope's headers (their event_id).
RAW_ITEMS = {
    "attachment": attachments.attachment_store,
}
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "x-sentry-error, x-sentry-rate-limits, retry-after",
}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "content-type, content-encoding, x-sentry-auth, authentication, "
    "sentry-trace, baggage",
    "Access-Control-Max-Age": "86400",
}


@dataclass(frozen=True)
class SentryRequest:
    method: str
    project_id: int
    kind: str  # "envelope" | "store"
    query: str  # the raw query string
    sentry_auth: str  # X-Sentry-Auth
    content_encoding: str  # lowercased
    content_length: str  # as declared; "" when chunked
    body: bytes  # as received, at most the body cap + 1 bytes


def match(path: str) -> tuple[int, str] | None:
    found = ROUTE.match(path)
    return (int(found.group(1)), found.group(2)) if found else None


def handle(request: SentryRequest) -> Reply:
    """The whole request in the caller's thread: `prepare`, then `commit` as a batch of one.
    (The ASGI fast path runs the same two steps, with the commit shared by concurrent requests.)"""
    prepared = prepare(request)
    return prepared if isinstance(prepared, Reply) else commit([prepared])[0]


@dataclass
class Prepared:
    """An envelope past authentication, limits and decoding: every item but its events is stored,
    and the events wait as rows for `commit`, which answers. An envelope of events only also
    waits for its admission (rate limit, quota, metering: `pending`), which `commit` does for its
    whole batch in one Redis call."""

    admitted: Admitted
    rows: list[storage.EventRow]
    event_id: str
    headers: dict[str, str]
    key: DsnKey
    key_epoch: object  # the key cache's revocation epoch when the key was looked up
    # Row index -> its event item, for rows symbolicated with this process's knowledge of the
    # project's source maps: `commit` makes them again if an upload came meanwhile.
    symbolicated: dict[int, envelope.Item] = field(default_factory=dict)
    stored: int = 0  # of `rows`, set by `commit` inside its transaction
    pending: PendingEvents | None = None  # not admitted yet: `rows` are all its events' rows


@dataclass
class PendingEvents:
    """The event items of an envelope waiting for admission, each with its row (None: its
    payload is unreadable, so it is metered but not stored) and the answer's event id after it."""

    items: list[envelope.Item]
    rows: list[storage.EventRow | None]
    event_ids: list[object]  # the answer's event id had the envelope been cut after each item
    header_event_id: object  # the envelope header's, the answer's when no event is kept


def prepare(request: SentryRequest) -> Reply | Prepared:
    """Everything before the events' COMMIT; a Reply when the request ends here (refused,
    malformed, storage down)."""
    if request.method == "OPTIONS":
        return Reply(200, JSON_TYPE, b"{}", dict(PREFLIGHT))
    try:
        if request.method != "POST":
            raise IngestError(405, "Use POST.")
        return _prepare(request)
    except IngestError as exc:
        return _refusal(exc)
    except DatabaseError:
        logger.warning("sentry ingestion: storage unavailable", exc_info=True)
        return _unavailable()


INLINE_MAX_BYTES = 64 * 1024  # bodies `prepare_inline` takes: a typical event is ~2-10 KiB


class _NeedsIO(Exception):
    """`_prepare(lookups=False)` reached a step that waits for PostgreSQL or Redis."""


def prepare_inline(request: SentryRequest) -> Reply | Prepared | None:
    """`prepare` on the caller's thread — the ASGI event loop's — for a request that needs no I/O
    before its commit: events only (the envelope's or /store/'s), its DSN key in the process's
    cache, no JS frame to symbolicate, an uncompressed body of at most INLINE_MAX_BYTES. That is
    most uncompressed events, and it skips the thread pool's hop (~50 µs of CPU per request,
    measured). None for any other request, which `prepare` then handles on the pool: nothing was
    stored, metered or cached meanwhile, so running it again there is the same request.

    Compressed bodies always go to the pool: 64 KiB of gzip or brotli can inflate to the whole
    decompressed cap (50 MiB), and inflating and parsing that here would stop the event loop —
    every other request of the process, whatever its tenant — for as long. On the pool zlib
    releases the GIL and the loop keeps answering."""
    if (
        request.method != "POST"
        or len(request.body) > INLINE_MAX_BYTES
        or request.content_encoding not in ("", "identity")
    ):
        return None
    try:
        return _prepare(request, lookups=False)
    except IngestError as exc:
        return _refusal(exc)
    except Exception:  # _NeedsIO, NeedsLookup — or a bug, which the pool's run logs and answers
        return None


def commit(batch: list[Prepared]) -> list[Reply]:
    """Admit the envelopes of `batch` still waiting for it (one Redis call: `_admit_pending`),
    store the events of every request admitted in one transaction (one dedup statement, one
    COPY) and answer each, in order: 200 only once that COMMIT returned. Storage failing fails
    them all (503, their metering taken back: the SDKs retry, deduplicated by event_id) — but
    rows the database refuses as data fail only their own request: the others are retried alone.
    An event_id sent twice, within a batch or across batches, is stored once, and the copies
    count as duplicates, not as accepted."""

    # Requests refused for a revoked key or by their admission: answered (and released) once.
    refused: dict[int, Reply] = {}
    rest = list(enumerate(batch))
    try:
        if any(prepared.rows for prepared in batch):
            _refuse_revoked(batch, refused)
        _admit_pending(batch, refused)
        rest = [(index, prepared) for index, prepared in rest if index not in refused]
        writing = [prepared for _, prepared in rest]
        _symbolicate_again(writing)

        def count_stored(stored: list[storage.EventRow]) -> None:
            fresh = {id(row) for row in stored}
            for prepared in writing:
                prepared.stored = sum(id(row) in fresh for row in prepared.rows)
                prepared.admitted.count_unmetered("error", prepared.stored)

        storage.events_write([row for prepared in writing for row in prepared.rows], count_stored)
    except DatabaseError as exc:
        rest = [(index, prepared) for index, prepared in rest if index not in refused]
        if len(rest) > 1 and _refused_as_data(exc):
            alone = {index: commit([prepared])[0] for index, prepared in rest}
            return [refused.get(index) or alone[index] for index in range(len(batch))]
        logger.warning("sentry ingestion: storage unavailable", exc_info=True)
        _release_all([prepared for _, prepared in rest])
        return [refused.get(index) or _unavailable() for index in range(len(batch))]
    except Exception:
        logger.exception("sentry ingestion: storing a batch of events failed")
        _release_all([prepared for index, prepared in rest if index not in refused])
        return [refused.get(index) or internal_error() for index in range(len(batch))]
    for prepared in writing:
        if prepared.stored < len(prepared.rows):  # retries of events already stored
            prepared.admitted.release("error", len(prepared.rows) - prepared.stored)
    return [
        refused.get(index) or Reply(200, JSON_TYPE, orjson.dumps({"id": p.event_id}), p.headers)
        for index, p in enumerate(batch)
    ]


def _refuse_revoked(batch: list[Prepared], refused: dict[int, Reply]) -> None:
    """Answer 403 (in `refused`, by index; their metering released) the requests of `batch` whose
    key was revoked since it was looked up. One Redis GET of the revocation epoch per batch instead
    of one per request: a key revoked before a request arrived is refused all the same, because the
    batch's GET comes after its requests (apps.projects.authentication.KeyCache). A batch with
    envelopes waiting for admission needs no GET: `_admit_pending`'s script compares the epoch."""
    if any(prepared.pending is not None for prepared in batch):
        return
    _keys.check_epoch()
    _recheck_keys(batch, refused, _keys.epoch)


def _recheck_keys(batch: list[Prepared], refused: dict[int, Reply], epoch: object) -> None:
    """Look the keys of `batch` looked up under another epoch than `epoch` up again: 403 (in
    `refused`, their metering released) for those revoked."""
    for index, prepared in enumerate(batch):
        if prepared.rows and prepared.key_epoch != epoch and index not in refused:
            try:
                _authenticate(prepared.key.public_key, prepared.key.project_id)
            except IngestError as exc:
                prepared.admitted.release()
                refused[index] = _refusal(exc)


def _symbolicate_again(batch: list[Prepared]) -> None:
    """Make again the rows symbolicated under an older source map upload epoch than their
    project's now (a map was uploaded while they were on their way): one Redis MGET per batch,
    read after every request of the batch arrived (apps.errors.symbol_cache)."""
    waiting = [(prepared, index) for prepared in batch for index in prepared.symbolicated]
    if not waiting:
        return
    now = symbol_cache.epochs_now(prepared.rows[index].project_id for prepared, index in waiting)
    if now is None:
        return  # Redis down: the cache's TTL bounds how stale symbolication gets
    for prepared, index in waiting:
        row = prepared.rows[index]
        if row.sourcemap_epoch == now.get(row.project_id):
            continue
        payload = envelope.json_payload(prepared.symbolicated[index])  # as it arrived, unsymbolicated
        if payload is not None:
            prepared.rows[index] = services.event_row(row.project_id, payload, row.received, row.event_id)


def _admit_pending(batch: list[Prepared], refused: dict[int, Reply]) -> None:
    """Admit the events-only envelopes of `batch` (not refused already) in one Redis call, each
    as if alone: those refused by their rate limit or the quota get their 429 in `refused`, the
    others keep the rows of the events admitted (all, but for a throttling plan). The same call
    first compares the key cache's revocation epoch with Redis's, for every request of the batch
    (`_refuse_revoked` left it to this call): when it moved, nothing was admitted; every key is
    looked up again (403 for the revoked, nothing of them metered), then the rest admitted."""
    if not any(prepared.pending is not None for prepared in batch):
        return  # nothing to admit: `_refuse_revoked` compared the epoch
    epoch = _keys.epoch  # the keys of the batch are checked against this one, and it against Redis
    _recheck_keys(batch, refused, epoch)
    waiting = [(i, p) for i, p in enumerate(batch) if p.pending is not None and i not in refused]
    if not waiting:
        _keys.check_epoch()  # no admission left to compare it: the batch's GET after all
        _recheck_keys(batch, refused, _keys.epoch)
        return
    envelopes = [(p.key, p.pending.items) for _, p in waiting if p.pending is not None]
    try:
        admitted = admission.admit_events(envelopes, watch=(KEY_EPOCH, epoch))
    except WatchMoved as moved:
        _keys.adopt(moved.value)
        _recheck_keys(batch, refused, moved.value)
        waiting = [(i, p) for i, p in waiting if i not in refused]
        envelopes = [(p.key, p.pending.items) for _, p in waiting if p.pending is not None]
        admitted = admission.admit_events(envelopes)
    for (index, prepared), decided in zip(waiting, admitted, strict=True):
        try:
            _settle(prepared, decided)
        except IngestError as exc:
            refused[index] = _refusal(exc)


def _settle(prepared: Prepared, admitted: Admitted) -> None:
    """`prepared` with its admission: the rows of its admitted events, its answer's event id and
    rate-limit header; raises the 429 of an envelope refused whole, as `_prepare` does."""
    pending = prepared.pending
    assert pending is not None
    kept = len(admitted.items)  # the first ones: a throttle keeps a prefix of the category
    prepared.pending = None
    prepared.admitted = admitted
    prepared.rows = []
    for item, row in zip(pending.items[:kept], pending.rows[:kept], strict=True):
        if row is not None:
            prepared.rows.append(row)
            if row.sourcemap_epoch is not None:  # (as `_store_items` notes them)
                prepared.symbolicated[len(prepared.rows) - 1] = item
    event_id = pending.event_ids[kept - 1] if kept else pending.header_event_id
    prepared.event_id = event_id if isinstance(event_id, str) else ""
    _answer_limits(admitted, admitted.retry_after, prepared.headers)


def _answer_limits(admitted: Admitted, retry_after: int, headers: dict[str, str]) -> None:
    """The rate-limit header of categories refused, on an answer (`headers`) that keeps others;
    the 429 (raised) when nothing of the envelope is kept."""
    if not admitted.limited:
        return
    if not admitted.items:
        raise IngestError(
            429,
            admitted.refusal or "Rate limit exceeded for this DSN.",
            {"x_sentry_rate_limits": admission.limits_header(admitted.limited, retry_after)},
            code="rate_limited",
            retry_after=retry_after,
        )
    headers["X-Sentry-Rate-Limits"] = admission.limits_header(admitted.limited, retry_after)


def _release_all(batch: list[Prepared]) -> None:
    # Nothing of these requests was stored: the SDKs' retries are metered instead.
    for prepared in batch:
        prepared.admitted.release()


def _refused_as_data(exc: DatabaseError) -> bool:
    """The database refused a row (not storage being down): one request's data, not the batch's."""
    cause = exc.__cause__
    return isinstance(exc, DataError | IntegrityError) or isinstance(
        cause, psycopg.DataError | psycopg.IntegrityError
    )


def _refusal(exc: IngestError) -> Reply:
    body = orjson.dumps(error_body(exc.status, exc.message, exc.details, exc.code))
    headers = {**CORS, **exc.headers(), "X-Sentry-Error": exc.message}
    if exc.status == 405:
        headers["Allow"] = "POST, OPTIONS"
    if exc.status == 429 and isinstance(exc.details, dict):
        headers["X-Sentry-Rate-Limits"] = exc.details["x_sentry_rate_limits"]
    return Reply(exc.status, JSON_TYPE, body, headers)


def internal_error() -> Reply:
    return Reply(500, JSON_TYPE, orjson.dumps(error_body(500, "Internal error.")), dict(CORS))


def _unavailable() -> Reply:
    body = orjson.dumps(error_body(503, "Storage is unavailable; retry later."))
    return Reply(503, JSON_TYPE, body, {**CORS, "Retry-After": str(RETRY_AFTER_SECONDS)})


def _prepare(request: SentryRequest, lookups: bool = True) -> Prepared:
    """Without `lookups`, raises _NeedsIO (or sourcemaps.NeedsLookup) at the first step that would
    wait for PostgreSQL or Redis, before anything is stored or metered."""
    public_key = request_key(request.query, request.sentry_auth)
    key_epoch = _keys.epoch  # read before the lookup: a revocation seen meanwhile makes it differ
    key = _authenticate(public_key, request.project_id, lookups) if public_key else None
    body = decompressed(request)
    if request.kind == "store":
        event = _store_event(body)
        items = [envelope.Item("event", {}, body)]
        parsed = envelope.Envelope({"event_id": event.get("event_id")}, items)
    else:
        try:
            parsed = envelope.parse(body)
        except envelope.EnvelopeError as exc:
            raise IngestError(400, str(exc), code="malformed_envelope") from None
        dsn_key = _dsn_key(parsed.headers.get("dsn"), request.project_id)
        if public_key and dsn_key and dsn_key != public_key:
            raise IngestError(403, "The envelope's DSN and the request's sentry_key disagree.")
        if key is None and dsn_key:
            key = _authenticate(dsn_key, request.project_id, lookups)
    if key is None:
        raise IngestError(
            401, "Missing DSN key: send `sentry_key` in the query, X-Sentry-Auth, or the envelope's `dsn`."
        )
    received = datetime.now(UTC)
    events_only = all(item.type == "event" for item in parsed.items)
    if events_only:
        pending = _pending_events(key.project_id, parsed, received, lookups)
        if any(pending.rows):  # admitted by `commit`, with the rest of its batch
            rows = [row for row in pending.rows if row is not None]
            return Prepared(admission.nothing_yet(key), rows, "", dict(CORS), key, key_epoch, pending=pending)
    if not lookups:
        raise _NeedsIO  # admission and storing of other items, now
    if not events_only:
        key = _current_key(key, key_epoch)
        key_epoch = _keys.epoch
    admitted = admission.admit(key, parsed.items)
    try:
        rows, symbolicated, event_id, wait = _store_items(
            key, parsed, admitted.items, received, admitted.limited
        )
    except Exception:
        admitted.release()  # nothing of this category was stored: the SDK's retry is metered instead
        raise
    headers = dict(CORS)
    _answer_limits(admitted, max(admitted.retry_after, wait), headers)
    return Prepared(admitted, rows, event_id, headers, key, key_epoch, symbolicated)


def request_key(query: str, sentry_auth: str) -> str | None:
    """The key from the `sentry_key` query parameter or X-Sentry-Auth; first found wins, and two
    different keys are refused rather than guessed between."""
    found = [k for k in (_query_key(query), _auth_header_key(sentry_auth)) if k]
    if len(set(found)) > 1:
        raise IngestError(403, "The sentry_key query parameter and X-Sentry-Auth disagree.")
    return found[0] if found else None


@functools.lru_cache(maxsize=512)  # an SDK sends the same query and header on every request
def _query_key(query: str) -> str:
    values = parse_qs(query).get("sentry_key", [])
    return values[0].strip() if values else ""


@functools.lru_cache(maxsize=512)
def _auth_header_key(header: str) -> str:
    """`Sentry sentry_key=abc, sentry_version=7, sentry_client=…` → abc."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "sentry":
        return ""
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip() == "sentry_key":
            return value.strip()
    return ""


def _dsn_key(dsn: object, project_id: int) -> str:
    if not isinstance(dsn, str) or not dsn:
        return ""
    url = urlsplit(dsn)
    if url.path.rstrip("/").rsplit("/", 1)[-1] != str(project_id):
        raise IngestError(403, "The envelope's DSN names another project.")
    return url.username or ""


def _authenticate(public_key: str, project_id: int, lookups: bool = True) -> DsnKey:
    """From the process's key cache, else one indexed query (without `lookups`: _NeedsIO). The
    cache's revocation epoch is checked by the caller: before storing anything but events
    (`_current_key`), and for events once per batch by `commit` — a revoked key is refused on the
    very next request all the same."""
    hit, key = _keys.get(f"{project_id}:{public_key}")
    if not hit:
        if not lookups:
            raise _NeedsIO
        key = (
            DsnKey.objects.active()
            .select_related("project")
            .filter(public_key=public_key, project_id=project_id)
            .first()
        )
        _keys.put(f"{project_id}:{public_key}", key)
    if key is None:
        raise IngestError(403, "Unknown or revoked DSN key for this project.")
    return key


# Cached DsnKey rows (with their project) are only read by requests, never saved.
_keys = KeyCache[DsnKey]()


def _current_key(key: DsnKey, looked_up_at: object) -> DsnKey:
    """`key` (looked up under epoch `looked_up_at`), checked against revocations now (the Redis
    epoch): before items other than events are stored, which happens before `commit`."""
    _keys.check_epoch()
    return key if _keys.epoch == looked_up_at else _authenticate(key.public_key, key.project_id)


def decompressed(request: SentryRequest) -> bytes:
    """The body after Content-Encoding, under the same caps as every ingest route (body.py)."""
    encoding = request.content_encoding
    if encoding not in ENCODINGS:
        raise IngestError(
            415, f"Unsupported Content-Encoding {encoding!r}; use gzip, deflate, br, zstd or none."
        )
    if encoding not in ("br", "zstd"):
        plain = IngestRequest(
            method="POST",
            content_type="",
            content_encoding=encoding,
            content_length=request.content_length,
            secret=None,
            body=request.body,
        )
        return transport.decompressed(plain)
    limit = transport.max_body_bytes()
    declared = transport.declared_length(request.content_length)
    if (declared is not None and declared > limit) or len(request.body) > limit:
        raise IngestError(413, f"Body larger than {limit} bytes.", {"limit": limit})
    return _unbrotli(request.body) if encoding == "br" else _unzstd(request.body)


def _too_large(limit: int) -> IngestError:
    return IngestError(413, f"Decompressed body larger than {limit} bytes.", {"limit": limit})


def _unbrotli(raw: bytes) -> bytes:
    limit = transport.max_decompressed_bytes()
    decompressor = brotli.Decompressor()
    try:
        # Output stops growing at the limit: a brotli bomb costs at most the cap in memory.
        data = decompressor.process(raw, output_buffer_limit=limit + 1)
    except brotli.error:
        raise IngestError(400, "Malformed brotli body.") from None
    if len(data) > limit:
        raise _too_large(limit)
    if not decompressor.is_finished():
        raise IngestError(400, "Truncated brotli body.")
    return data


def _unzstd(raw: bytes) -> bytes:
    limit = transport.max_decompressed_bytes()
    chunks: list[bytes] = []
    size = 0
    try:
        with zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as reader:
            while chunk := reader.read(1 << 20):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
    except zstandard.ZstdError:
        raise IngestError(400, "Malformed zstd body.") from None
    return b"".join(chunks)


def _store_event(body: bytes) -> dict[str, object]:
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise IngestError(400, "The event is not valid JSON.", code="malformed_event") from None
    if not isinstance(event, dict):
        raise IngestError(400, "The event must be a JSON object.", code="malformed_event")
    return event


def _store_items(
    key: DsnKey,
    parsed: envelope.Envelope,
    items: list[envelope.Item],
    received: datetime,
    limited: set[str],
) -> tuple[list[storage.EventRow], dict[int, envelope.Item], str, int]:
    """Store what Vigil keeps but the events, and return the events' rows (for `commit`) with the
    items of those symbolicated from cached uploads (`Prepared.symbolicated`), the envelope's event
    id for the answer, and the seconds a refused category must wait. Unknown and not-yet kept item
    types are accepted and dropped: an SDK must never retry them forever. A quota or rate refusal
    of spans or logs by ingestion adds their category to `limited`; storage down is a 503 for the
    whole envelope, which is safe to retry (events are deduplicated by event_id). The grouper
    counts stored events into their issues."""
    project_id = key.project_id
    event_id = parsed.headers.get("event_id")
    events: list[storage.EventRow] = []
    symbolicated: dict[int, envelope.Item] = {}
    wait = 0
    for item in items:
        if item.type in TELEMETRY:
            payload = envelope.json_payload(item)
            if payload is None:
                continue
            try:
                TELEMETRY[item.type](key, key.project.organization_id, payload)
            except IngestError as exc:
                if exc.status != 429:
                    raise
                limited.add(CATEGORIES[item.type])
                wait = max(wait, exc.retry_after or 60)
        elif item.type == "event":
            row, event_id = _event_row(project_id, item, received, event_id)
            if row is not None:  # (one unreadable item never aborts the envelope)
                events.append(row)
                if row.sourcemap_epoch is not None:
                    symbolicated[len(events) - 1] = item
        elif item.type in RAW_ITEMS:
            RAW_ITEMS[item.type](key, parsed.headers, item, received)
        elif item.type == "client_report":
            report = envelope.json_payload(item)
            if report is not None:
                services.discards_count(project_id, report, received)
    return events, symbolicated, (event_id if isinstance(event_id, str) else ""), wait


def _event_row(
    project_id: int, item: envelope.Item, received: datetime, event_id: object, lookups: bool = True
) -> tuple[storage.EventRow | None, object]:
    """The row of an event item (None when its payload is unreadable), and the answer's event
    id after it (the envelope's, else the first event's)."""
    payload = envelope.json_payload(item)
    if payload is None:
        return None, event_id
    row = services.event_row(project_id, payload, received, event_id, lookups, raw=item.payload)
    return row, event_id or payload.get("event_id")


def _pending_events(
    project_id: int, parsed: envelope.Envelope, received: datetime, lookups: bool = True
) -> PendingEvents:
    """The rows of an envelope of events only, before its admission (they have no side effect:
    `_store_items` of the same items would build the same rows)."""
    header_event_id = parsed.headers.get("event_id")
    pending = PendingEvents(parsed.items, [], [], header_event_id)
    event_id = header_event_id
    for item in parsed.items:
        row, event_id = _event_row(project_id, item, received, event_id, lookups)
        pending.rows.append(row)
        pending.event_ids.append(event_id)
    return pending
