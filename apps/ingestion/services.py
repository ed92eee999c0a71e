"""The ingestion workflow shared by the OTLP and native endpoints:
authenticate → read body → decode + clean (validation, limits, redaction) → quota → rate limit
→ write (one transaction) → announce. Views translate HTTP to these calls and back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from typing import Any

from django.db import DatabaseError

from apps.billing import quota, retention
from apps.dashboards import live
from apps.ingestion import logshapes, native, otlp, otlp_decode, promwrite, ratelimit, writer
from apps.ingestion.batch import Batch
from apps.ingestion.body import max_decompressed_bytes, read_body
from apps.ingestion.cleaning import Cleaner
from apps.ingestion.errors import IngestError
from apps.ingestion.redaction import redactor_for
from apps.ingestion.transport import IngestRequest
from apps.projects.authentication import KeyIdentity, authenticate_key
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


def ingest_otlp(request: IngestRequest, identity: KeyIdentity, signal: str, content_type: str) -> Batch:
    body = read_body(request)
    message, _ = otlp.parse_request(signal, body, content_type)
    # Protobuf strings are verbatim slices of the body; OTLP/JSON strings may hide text in escapes.
    cleaner = _cleaner(identity.project_id, clean_body=body if content_type == otlp.PROTOBUF else b"")
    batch = OTLP_DECODERS[signal](identity.project_id, message, cleaner)
    store(identity, batch)
    return batch


def ingest_native(request: IngestRequest, identity: KeyIdentity, signal: str) -> Batch:
    body = read_body(request)
    records, surrogates = native.parse_records(body)
    if not isinstance(records, list):
        raise IngestError(400, "Expected a JSON array or NDJSON objects.")
    if len(records) > MAX_NATIVE_RECORDS:
        raise IngestError(413, f"More than {MAX_NATIVE_RECORDS} records in one request.")
    warnings: list[str] = []
    if signal == "logs":  # the field names of common loggers (python-json-logger, pino, ECS, ...)
        records, warnings = logshapes.as_native(records, lambda: _time_zone(identity.project_id))
    cleaner = _cleaner(identity.project_id, check_surrogates=surrogates)
    batch = NATIVE_DECODERS[signal](identity.project_id, records, cleaner)
    batch.warnings = warnings
    if batch.rejected and not batch.accepted:
        raise IngestError(
            422, "No valid record in the request.", {"rejected": batch.rejected, "errors": batch.reasons}
        )
    store(identity, batch)
    return batch


def ingest_prom(request: IngestRequest, identity: KeyIdentity) -> Batch:
    if request.content_encoding != "snappy":
        raise IngestError(415, "Content-Encoding must be snappy (remote-write 1.0).")
    raw = read_body(replace(request, content_encoding=""))  # the caps on the body as sent
    message = promwrite.parse(promwrite.decompress(raw, max_decompressed_bytes()))
    batch = promwrite.decode(identity.project_id, message, _cleaner(identity.project_id))
    if batch.rejected and not batch.accepted:
        # 400: Prometheus drops the batch instead of retrying what can never be stored.
        raise IngestError(
            400, "No valid sample in the request.", {"rejected": batch.rejected, "errors": batch.reasons}
        )
    store(identity, batch)
    return batch


def store(identity: KeyIdentity, batch: Batch) -> None:
    """Quota, rate limit, write, announce. Raises IngestError (429/503); returns after COMMIT."""
    count = _keep_retained(identity.project_id, batch)
    if not count:
        return
    decision = quota.check(identity.project_id, count)
    if not decision.allowed:
        raise IngestError(
            429,
            decision.reason or "Event quota exceeded.",
            code="quota_exceeded",
            retry_after=decision.retry_after or 60,
        )
    rate = ratelimit.consume(identity.id, count)
    if not rate.allowed:
        raise IngestError(
            429,
            "Rate limit exceeded for this API key.",
            {"retry_after": rate.retry_after},
            code="rate_limited",
            retry_after=rate.retry_after,
        )
    _write(identity.project_id, batch)


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
