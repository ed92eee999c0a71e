"""Rate limits, quota and metering of a Sentry envelope's items, per rate-limit category.

Each DSN key has a token bucket per category (a flood of transactions never spends the errors'),
and the categories stored here (METERED) go through billing's quota and meter, whose admit script
takes that bucket too: one Redis round trip for both. Two ways in:
- `admit(key, items)`: one envelope, in its request (envelopes with items other than events,
  which are stored before the events' commit);
- `admit_events([(key, events), ...])`: the events-only envelopes of a group-commit batch
  (apps.errors.commit), every one decided as if alone, in one Redis call for the whole batch —
  what SDKs send nearly always, and the call that cost a request its round trip to Redis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from django.conf import settings

from apps.billing import quota, usage
from apps.errors import envelope
from apps.errors.models import DsnKey
from apps.ingestion import transport

# Item type -> rate-limit category (the names SDKs use in X-Sentry-Rate-Limits).
CATEGORIES = {
    "event": "error",
    "transaction": "transaction",
    "span": "span",
    "attachment": "attachment",
    "session": "session",
    "sessions": "session",
    "check_in": "monitor",
    "log": "log_item",
    "otel_log": "log_item",
    "profile": "profile",
    "replay_event": "replay",
    "replay_recording": "replay",
    "client_report": "internal",
}
# Categories metered here, under their Sentry name as billing's usage signal: the items apps.errors
# stores itself. Transactions and logs are metered by ingestion's pipeline, which stores them
# (as traces and logs); what Vigil accepts and drops (profiles, replays, …) is not billed.
METERED = {"error", "attachment"}


@dataclass
class Admitted:
    """What rate limits and quota let through of an envelope, and the meter's record of it."""

    organization_id: int
    project_id: int
    items: list[envelope.Item]
    limited: set[str]  # categories refused (X-Sentry-Rate-Limits)
    retry_after: int
    admissions: dict[str, quota.Admission] = field(default_factory=dict)
    refusal: str = ""  # the quota's own message when it refused

    def release(self, category: str | None = None, count: int | None = None) -> None:
        """Take records counted as accepted back out of the meter: all of them (the write
        failed), or `count` of one category (duplicates of events stored before)."""
        for name, admission in self.admissions.items():
            if category is None or name == category:
                kept = admission if count is None else replace(admission, keep=min(count, admission.keep))
                quota.release(kept, self.organization_id)

    def count_unmetered(self, category: str, stored: int) -> None:
        """In the storing transaction: when Redis was down at admission, count what is stored
        there (billing's write-path count)."""
        admission = self.admissions.get(category)
        if admission is not None and not admission.metered:
            usage.count_in_transaction(self.organization_id, self.project_id, category, stored)

    def limit(self, category: str, retry_after: int) -> None:
        self.limited.add(category)
        self.retry_after = max(self.retry_after, retry_after)


def nothing_yet(key: DsnKey) -> Admitted:
    """The Admitted of an envelope whose admission is still to come: nothing metered to release."""
    return Admitted(key.project.organization_id, key.project_id, [], set(), 0)


def admit(key: DsnKey, items: list[envelope.Item]) -> Admitted:
    """Per category: the DSN key's rate limit (its own bucket per category), then billing's quota
    and meter for the categories stored here (METERED; others by their own pipeline)."""
    counts = Counter(CATEGORIES.get(item.type, "default") for item in items if item.type != "client_report")
    admitted = nothing_yet(key)
    metered = sorted(category for category in counts if category in METERED)
    for category in sorted(counts.keys() - METERED):
        allowed, wait = _consume(key.pk, category, counts[category])
        if not allowed:
            admitted.limit(category, wait)
    requests = [_request(key, category, counts[category]) for category in metered]
    return _settled(admitted, items, dict(zip(metered, quota.admit_many(requests), strict=True)))


def admit_events(
    envelopes: Sequence[tuple[DsnKey, list[envelope.Item]]], watch: quota.Watch | None = None
) -> list[Admitted]:
    """`admit` for envelopes of events only, the whole batch in one Redis call: each envelope is
    decided, counted and refused as `admit` would, in the batch's order. `watch`: the revocation
    epoch the batch's keys were checked under, compared first (quota.admit_many; raises
    WatchMoved, nothing admitted)."""
    if not envelopes:
        return []
    requests = [_request(key, "error", len(items)) for key, items in envelopes]
    return [
        _settled(nothing_yet(key), items, {"error": admission})
        for (key, items), admission in zip(envelopes, quota.admit_many(requests, watch), strict=True)
    ]


def _request(key: DsnKey, category: str, count: int) -> quota.AdmitRequest:
    # The script takes the DSN key's bucket of this category too (`sentry:<key>:<category>`).
    organization_id = key.project.organization_id
    return quota.AdmitRequest(
        organization_id, key.project_id, category, count, key_id=f"sentry:{key.pk}:{category}"
    )


def _settled(
    admitted: Admitted, items: list[envelope.Item], admissions: dict[str, quota.Admission]
) -> Admitted:
    """`admitted` with what billing decided per metered category, and the items let through."""
    keep: dict[str, int] = {}
    for category, admission in sorted(admissions.items()):
        if admission.rate_limited_for:  # (counted as rate_limit by the same script)
            admitted.limit(category, admission.rate_limited_for)
            continue
        admitted.admissions[category] = admission
        keep[category] = admission.keep  # a throttling plan may keep part of them
        if admission.refused:
            admitted.limit(category, admission.retry_after())
            admitted.refusal = admission.message()
    for item in items:
        category = CATEGORIES.get(item.type, "default")
        if category in admitted.limited:
            continue
        if category in keep:
            if keep[category] <= 0:
                continue
            keep[category] -= 1
        admitted.items.append(item)
    return admitted


def _consume(key_id: int, category: str, count: int) -> tuple[bool, int]:
    """Ingestion's token bucket (same rate settings and Redis script), one bucket per DSN key and
    category: a flood of transactions does not spend the errors'."""
    bucket = f"vigil:ingest:bucket:sentry:{key_id}:{category}"
    rate, burst = float(settings.INGEST_RATE_PER_SECOND), float(settings.INGEST_RATE_BURST)
    return transport.consume_bucket(bucket, rate, burst, count)


def limits_header(categories: set[str], retry_after: int) -> str:
    """`60:error;transaction:key` — the SDK holds back exactly these categories for 60 s."""
    return f"{retry_after}:{';'.join(sorted(categories))}:key"
