"""The ingestion workflow shared by the OTLP and native endpoints:
authenticate → read body → decode + clean (validation, limits, redaction) → rate limit, quota and
metering (apps.billing.quota.admit: one Redis call for all three) → write (one transaction) → announce.
Views translate HTTP to these calls and back. Every transport calls `store` (and raises the
IngestError it raises), so quota headers, enforcement and metering are the same for all of them.

The endpoints take their API key from the process's key cache without asking Redis whether a
key was revoked since (`KeyCheck`): the admission script compares the revocation epoch first, in
the request's one round trip (`store`, `_refused`). When it moved nothing was admitted: the key
is authenticated again (401 if it was revoked) and admitted then. An answer given without an
admission (a refusal before it, an empty request) confirms the key the classic way first, so a
revoked key is refused on its very next request, whatever that request is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from typing import Any

from django.db import DatabaseError, transaction

from apps.billing import quota, retention, usage
from apps.billing.models import Outcome
from apps.dashboards import live
from apps.ingestion import logshapes, native, otlp, otlp_decode, promwrite, writer
from apps.ingestion.batch import Batch
from apps.ingestion.body import max_decompressed_bytes, read_body
from apps.ingestion.cleaning import Cleaner
from apps.ingestion.errors import IngestError
from apps.ingestion.messages import IngestRequest
from apps.ingestion.redaction import redactor_for
from apps.projects.authentication import KeyIdentity, authenticate_key, authenticate_key_deferred, epoch_moved
from apps.projects.models import KeyScope

logger = logging.getLogger(__name__)

MAX_NATIVE_RECORDS = 100_000
OTLP_DECODERS: dict[str, Callable[[int, Any, Cleaner], Batch]] = {
    "logs": otlp_decode.decode_logs,
    "metrics": otlp_decode.decode_metrics,
    "traces": otlp_decode.decode_traces,
}
NATIVE_DECODERS: dict[str, Callable[[int, list[Any], Cleaner], Batch]] = {
    "logs": native.decode_logs,
    "metrics": native.decode_metrics,
}


def authenticate(secret: str | None) -> KeyIdentity:
    if secret is None:
        raise IngestError(401, "Missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`.")
    try:
        identity = authenticate_key(secret)
    except DatabaseError:
        # The key cache missed and PostgreSQL is down: a retry later can succeed.
        raise _unavailable() from None
    if identity is None:
        raise IngestError(401, "Unknown or revoked API key.")
    if identity.scope != KeyScope.INGEST:
        raise IngestError(403, "This key may not ingest; use an ingest key.")
    return identity


class KeyCheck:
    """A request's API key, from the process's cache, with its revocation check still to come:
    folded into the admission (`watch` for quota.admit), or `settle` before answering without."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret
        self.watch: tuple[str, Any] | None = None
        self.confirmed = False

    def authenticate(self) -> KeyIdentity:
        """`authenticate`, minus the revocation epoch's GET."""
        if self.secret is None:
            return authenticate(None)
        try:
            identity, self.watch = authenticate_key_deferred(self.secret)
        except DatabaseError:
            raise _unavailable() from None
        if identity is None:
            raise IngestError(401, "Unknown or revoked API key.")
        if identity.scope != KeyScope.INGEST:
            self.settle()  # a revoked key is told so, not that its scope is wrong
            raise IngestError(403, "This key may not ingest; use an ingest key.")
        return identity

    def moved(self, epoch: Any) -> KeyIdentity:
        """The admission said the revocation epoch moved: the key again, checked (401 if revoked)."""
        epoch_moved(epoch)
        self.confirmed = True
        return authenticate(self.secret)

    def settle(self) -> None:
        """Before an answer that no admission checked: the key checked against revocations now
        (raises the 401 of a revoked key)."""
        if not self.confirmed:
            self.confirmed = True
            authenticate(self.secret)


def _unavailable() -> IngestError:
    return IngestError(503, "Storage is unavailable; retry later.", retry_after=writer.RETRY_AFTER_SECONDS)


def _cleaner(project_id: int, check_surrogates: bool = False, clean_body: bytes = b"") -> Cleaner:
    try:
        redactor = redactor_for(project_id)  # a cached read of the project's redaction settings
    except DatabaseError:
        raise _unavailable() from None
    return Cleaner(redactor, check_surrogates=check_surrogates, clean_body=clean_body)


def _time_zone(project_id: int) -> tzinfo:
    try:
        return logshapes.time_zone_for(project_id)  # a cached read of the project's setting
    except DatabaseError:
        raise _unavailable() from None


def ingest_otlp(
    request: IngestRequest,
    identity: KeyIdentity,
    signal: str,
    content_type: str,
    check: KeyCheck | None = None,
) -> Batch:
    body = read_body(request)
    message, _ = otlp.parse_request(signal, body, content_type)
    # Protobuf strings are verbatim slices of the body; OTLP/JSON strings may hide text in escapes.
    cleaner = _cleaner(identity.project_id, clean_body=body if content_type == otlp.PROTOBUF else b"")
    batch = OTLP_DECODERS[signal](identity.project_id, message, cleaner)
    store(identity, batch, signal, check)
    return batch


def ingest_native(
    request: IngestRequest, identity: KeyIdentity, signal: str, check: KeyCheck | None = None
) -> Batch:
    body = read_body(request)
    records, surrogates = native.parse_records(body)
    if not isinstance(records, list):
        raise IngestError(400, "Expected a JSON array or NDJSON objects.")
    if len(records) > MAX_NATIVE_RECORDS:
        raise _refused(
            identity,
            signal,
            {Outcome.TOO_LARGE: len(records)},
            IngestError(413, f"More than {MAX_NATIVE_RECORDS} records in one request."),
            check,
        )
    warnings: list[str] = []
    if signal == "logs":  # the field names of common loggers (python-json-logger, pino, ECS, ...)
        records, warnings = logshapes.as_native(records, lambda: _time_zone(identity.project_id))
    cleaner = _cleaner(identity.project_id, check_surrogates=surrogates)
    batch = NATIVE_DECODERS[signal](identity.project_id, records, cleaner)
    batch.warnings = warnings
    if batch.rejected and not batch.accepted:
        raise _refused(
            identity,
            signal,
            {Outcome.INVALID: batch.rejected},
            IngestError(
                422, "No valid record in the request.", {"rejected": batch.rejected, "errors": batch.reasons}
            ),
            check,
        )
    store(identity, batch, signal, check)
    return batch


def ingest_prom(request: IngestRequest, identity: KeyIdentity, check: KeyCheck | None = None) -> Batch:
    if request.content_encoding != "snappy":
        raise IngestError(415, "Content-Encoding must be snappy (remote-write 1.0).")
    raw = read_body(replace(request, content_encoding=""))  # the caps on the body as sent
    message = promwrite.parse(promwrite.decompress(raw, max_decompressed_bytes()))
    batch = promwrite.decode(identity.project_id, message, _cleaner(identity.project_id))
    if batch.rejected and not batch.accepted:
        # 400: Prometheus drops the batch instead of retrying what can never be stored.
        raise _refused(
            identity,
            "metrics",
            {Outcome.INVALID: batch.rejected},
            IngestError(
                400, "No valid sample in the request.", {"rejected": batch.rejected, "errors": batch.reasons}
            ),
            check,
        )
    store(identity, batch, "metrics", check)
    return batch


def _refused(
    identity: KeyIdentity,
    signal: str,
    drops: dict[Any, int],
    error: IngestError,
    check: KeyCheck | None = None,
) -> IngestError:
    """Count the records of a request refused as a whole, and give its answer the quota headers.
    Raises the 401 of a key revoked meanwhile (nothing counted)."""
    try:
        admission, _ = _admit(identity, signal, 0, drops, check, key_id=None)
    except IngestError as refusal:
        if refusal.status == 503:  # the plan was not cached and PostgreSQL is down: refuse, uncounted
            return error
        raise
    error.extra_headers.update(admission.headers())
    return error


def _admit(
    identity: KeyIdentity,
    signal: str,
    count: int,
    drops: dict[str, int],
    check: KeyCheck | None,
    key_id: int | None,
) -> tuple[quota.Admission, KeyIdentity]:
    """quota.admit, with the revocation check of `check`'s key folded into its round trip; the
    admission and the key as checked. Raises IngestError: 401 (revoked), 503 (PostgreSQL down and
    the plan not cached)."""
    watch = check.watch if check is not None and not check.confirmed else None
    org, project = identity.organization_id, identity.project_id
    try:
        try:
            admission = quota.admit(org, project, signal, count, drops, key_id, watch)
        except quota.WatchMoved as moved:
            assert check is not None
            # A key was revoked somewhere since this process cached its keys; nothing was counted.
            identity = check.moved(moved.value)
            key_id = identity.id if key_id is not None else None
            org, project = identity.organization_id, identity.project_id
            admission = quota.admit(org, project, signal, count, drops, key_id)
    except DatabaseError:
        raise _unavailable() from None
    if check is not None:
        check.confirmed = True
    return admission, identity


def _signal_of(batch: Batch) -> str:
    return "traces" if batch.spans else "metrics" if batch.points else "logs"


def store(
    identity: KeyIdentity, batch: Batch, signal: str | None = None, check: KeyCheck | None = None
) -> None:
    """Retention, rate limit, quota + metering, write, announce. Raises IngestError (401 when
    `check`'s key turns out revoked, 429, 503); returns after COMMIT, with the answer's quota
    headers in `batch.headers`."""
    signal = signal or _signal_of(batch)
    invalid = batch.rejected
    try:
        cutoffs = retention.log_cutoffs(identity.project_id, datetime.now(UTC))  # the plan, cached
    except DatabaseError:
        raise _unavailable() from None
    batch.reject_logs_before(cutoffs.of, cutoffs.newest)
    drops: dict[str, int] = {Outcome.INVALID: invalid, Outcome.RETENTION: batch.rejected - invalid}
    count = batch.accepted
    if not count and not batch.rejected:
        if check is not None:
            check.settle()
        batch.headers = quota.headers_for(identity.organization_id)
        return
    # One Redis call: the key's revocation epoch, its rate limit, the plan's quota, and the count
    # of every record.
    admission, identity = _admit(identity, signal, count, drops, check, identity.id)
    batch.headers = admission.headers()
    if admission.rate_limited_for:
        error = IngestError(
            429,
            "Rate limit exceeded for this API key.",
            {"retry_after": admission.rate_limited_for},
            code="rate_limited",
            retry_after=admission.rate_limited_for,
        )
        error.extra_headers.update(batch.headers)
        raise error
    if admission.refused_by_spike:
        error = IngestError(
            429,
            admission.spike_message(),
            {"reason": Outcome.SPIKE.value, "dropped": admission.spiked, "project_id": identity.project_id},
            code="spike_protection",
            retry_after=admission.spike_retry_after(),
        )
        error.extra_headers.update(batch.headers)
        raise error
    if admission.refused:
        error = IngestError(
            429,
            admission.message(),
            admission.details(),
            code="quota_exceeded",
            retry_after=admission.retry_after(),
        )
        error.extra_headers.update(batch.headers)
        raise error
    if not count:
        return
    if admission.spiked:
        batch.keep_only(count - admission.spiked, Outcome.SPIKE.value, admission.spike_message())
    if admission.dropped:
        batch.keep_only(
            admission.keep,
            Outcome.QUOTA.value,
            f"{admission.dropped} records dropped by quota throttling: {admission.message()}",
        )
    # Records metered on the day they arrive but stored on another (a backfill, a batch across
    # midnight): noted with the rows, so billing's nightly recount can match them exactly.
    arrival = datetime.fromtimestamp(admission.minute, UTC)
    off_days = None if writer.record_days(batch) == [arrival.date()] else writer.records_by_day(batch)
    try:
        if admission.metered and off_days is None:
            writer.write_batch(identity.project_id, batch)
        else:
            with transaction.atomic():
                writer.write_batch(identity.project_id, batch)
                if not admission.metered:
                    # Redis is down: count from the write path, in the transaction storing the rows.
                    usage.count_in_transaction(
                        identity.organization_id, identity.project_id, signal, batch.accepted, arrival
                    )
                if off_days is not None:
                    usage.note_record_days(
                        identity.organization_id, identity.project_id, signal, arrival.date(), off_days
                    )
    except IngestError as error:
        quota.release(admission, identity.organization_id)
        error.extra_headers.update(batch.headers)
        raise
    except DatabaseError:
        raise _unavailable() from None  # the write-path count failed: nothing was committed
    live.announce_batch(identity.project_id, batch)


def store_otlp_message(identity: KeyIdentity, signal: str, message: Any) -> Batch:
    """An OTLP Export*ServiceRequest that another transport built (Sentry transactions, in
    apps.errors) through the OTLP endpoint's pipeline: decode with the project's cleaner, then
    `store` (quota, metering, write, announce). Raises IngestError; returns after COMMIT."""
    batch = OTLP_DECODERS[signal](identity.project_id, message, _cleaner(identity.project_id))
    store(identity, batch, signal)
    return batch


def store_native_records(identity: KeyIdentity, signal: str, records: list[Any]) -> Batch:
    """Native records (dicts as `POST /api/v1/ingest/{signal}` takes them) that another transport
    built (Sentry logs) through the native endpoint's pipeline, as `store_otlp_message`."""
    batch = NATIVE_DECODERS[signal](identity.project_id, records, _cleaner(identity.project_id))
    store(identity, batch, signal)
    return batch


def store_otlp(project_id: int, signal: str, message: Any) -> Batch:
    """Decode one OTLP Export*ServiceRequest message (`signal`: logs, metrics or traces) as the
    endpoints do — validation, limits, redaction, retention — then write and announce it. For
    telemetry Vigil makes itself (the demo): no key, so no quota or rate limit. Raises
    IngestError (503); returns after COMMIT."""
    batch = OTLP_DECODERS[signal](project_id, message, _cleaner(project_id))
    if _keep_retained(project_id, batch):
        _write(project_id, batch)
    return batch


def _keep_retained(project_id: int, batch: Batch) -> int:
    """Reject the logs already past retention; returns the records left."""
    cutoffs = retention.log_cutoffs(project_id, datetime.now(UTC))
    batch.reject_logs_before(cutoffs.of, cutoffs.newest)
    return batch.accepted


def _write(project_id: int, batch: Batch) -> None:
    writer.write_batch(project_id, batch)
    live.announce_batch(project_id, batch)
