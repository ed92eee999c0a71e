"""What a decoded request becomes: rows ready for COPY, plus the count and reasons of rejects.

Rows are plain tuples in table column order (see apps.ingestion.writer): the hot path builds
one tuple per record and nothing else.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson
from django.conf import settings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Log rows carry their two times (ts, observed_ts) as PostgreSQL stores a timestamptz: integer
# microseconds since 2000-01-01 UTC. Binary COPY sends that as int8 (apps.logs.storage.TYPES), byte for
# byte timestamptz's binary form, so no datetime is made per record and none is taken apart again
# by psycopg (~5 % of a 1,000-record OTLP request). What needs a datetime converts at its edge
# (pg_datetime): retention cutoffs, partitions, late-row notes, live events.
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
PG_EPOCH_MICROS = (PG_EPOCH - EPOCH) // timedelta(microseconds=1)
_MICROSECOND = timedelta(microseconds=1)
# jsonb values in rows are pre-encoded in PostgreSQL's binary jsonb format (version byte 1 + JSON
# text): COPY then hands them over without a Python-level dump per value
# (apps.storage.copy.PreEncodedJsonbDumper).
JSONB_EMPTY_OBJECT = b"\x01{}"
MAX_REASONS = 10


@dataclass(frozen=True)
class SeriesSpec:
    name: str
    type: str  # gauge | sum | histogram | exponential_histogram
    unit: str
    temporality: int
    is_monotonic: bool
    labels_json: bytes
    description: str = ""  # OTLP Metric.description; not part of the series identity


@dataclass
class Batch:
    logs: list[tuple[Any, ...]] = field(default_factory=list)
    spans: list[tuple[Any, ...]] = field(default_factory=list)
    # Points carry the series' labels hash in place of series_id until the writer resolves it.
    points: list[tuple[Any, ...]] = field(default_factory=list)
    series: dict[bytes, SeriesSpec] = field(default_factory=dict)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    # Things the client should know about accepted records (native answer's `warnings`).
    warnings: list[str] = field(default_factory=list)
    # Records dropped after validation, by reason (apps.billing.models.Outcome), e.g. {"quota": 12}:
    # counted in `rejected` too, named separately in the native answer.
    dropped: dict[str, int] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # quota headers for the answer
    # The UTC days the records' times fall on (apps.ingestion.writer.record_days), computed once.
    days: list[date] | None = None

    @property
    def accepted(self) -> int:
        return len(self.logs) + len(self.spans) + len(self.points)

    def reject(self, reason: str, index: int | None = None) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason if index is None else f"record {index}: {reason}")

    def reject_logs_before(self, cutoff_of: Callable[[int], datetime], newest_cutoff: datetime) -> None:
        """Reject log records already past retention for their level class: they would never be
        served, and their level's partition of that day may already be dropped (a COPY into it
        would fail the whole batch). Rows are (project_id, ts, observed_ts, level, ...), ts in
        pg_micros."""
        newest = datetime_pg_micros(newest_cutoff)
        if not self.logs or min(map(itemgetter(1), self.logs)) >= newest:
            return
        kept = []
        for row in self.logs:
            if row[1] < newest and row[1] < datetime_pg_micros(cutoff_of(row[3])):
                self.reject(
                    f"log record at {pg_datetime(row[1]).isoformat()} is older than this project's retention"
                )
            else:
                kept.append(row)
        self.logs = kept

    def keep_only(self, keep: int, reason: str, message: str) -> None:
        """Keep a uniform random sample of `keep` accepted records (quota throttling); the rest
        count as rejected, with one reason line saying why."""
        dropped = self.accepted - keep
        if dropped <= 0:
            return
        for name in ("logs", "spans", "points"):
            rows = getattr(self, name)
            if rows:
                kept = min(len(rows), keep)
                setattr(self, name, _sample(rows, kept))
                keep -= kept
        self.rejected += dropped
        self.dropped[reason] = self.dropped.get(reason, 0) + dropped
        self.reasons.insert(0, message)
        del self.reasons[MAX_REASONS:]

    def error_message(self) -> str:
        more = self.rejected - len(self.reasons)
        return "; ".join(self.reasons) + (f"; and {more} more" if more > 0 else "")


def _sample(rows: list[Any], keep: int) -> list[Any]:
    """A uniform random sample of `keep` rows, in their original order."""
    if keep >= len(rows):
        return rows
    return [rows[i] for i in sorted(random.sample(range(len(rows)), keep))]


class TimeWindow:
    """The documented timestamp rule: a record is accepted when its time lies between
    INGEST_MAX_AGE_SECONDS ago (default 30 days) and INGEST_MAX_FUTURE_SECONDS ahead
    (default 1 day) of the time it is received; otherwise it is rejected with a reason.
    A missing (zero) timestamp means "now" (OTLP: the observed time)."""

    def __init__(self) -> None:
        self.now_ns = time.time_ns()
        self.now = EPOCH + timedelta(microseconds=self.now_ns // 1000)
        self.now_micros = pg_micros(self.now_ns)  # self.now, as log rows carry it
        max_age = int(settings.INGEST_MAX_AGE_SECONDS)
        max_future = int(settings.INGEST_MAX_FUTURE_SECONDS)
        self.earliest_ns = self.now_ns - max_age * 10**9
        self.latest_ns = self.now_ns + max_future * 10**9

    def accepts(self, ns: int) -> bool:
        return self.earliest_ns <= ns <= self.latest_ns


def jsonb(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value)


def pg_micros(ns: int) -> int:
    """Nanoseconds since the Unix epoch as a log row's time (see PG_EPOCH)."""
    return ns // 1000 - PG_EPOCH_MICROS


def pg_datetime(micros: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=micros)


def datetime_pg_micros(value: datetime) -> int:
    return (value - PG_EPOCH) // _MICROSECOND


def ns_to_datetime(ns: int) -> datetime:
    # Integer microseconds / 1e6 is within half a microsecond of the truth for any date in
    # range, and fromtimestamp rounds to the nearest microsecond: exact, and faster than timedelta.
    try:
        return datetime.fromtimestamp(ns // 1000 / 1e6, UTC)
    except (OverflowError, OSError, ValueError):
        return EPOCH + timedelta(microseconds=ns // 1000)
