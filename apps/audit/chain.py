"""Tamper evidence for the audit log: each organization's events form a hash chain.

Every event stores `prev_hash` (the `event_hash` of the previous event of the same organization,
or GENESIS for its first) and `event_hash` = SHA-256 over `prev_hash` and the event's content in a
canonical JSON form. Changing any stored field of an event breaks its own hash; removing or
inserting one breaks the link of the next. The database already refuses UPDATE and DELETE (the
trigger of migration 0002) and the runtime role cannot TRUNCATE or disable triggers; the chain is
what still tells, afterwards, that someone with the owner's or a superuser's rights did.

Writers are serialised per organization by a transaction-scoped advisory lock taken before the
previous hash is read: two events recorded at once for one organization would otherwise both link
to the same predecessor. Events without an organization (sign-ins) form one chain of their own.
`python manage.py audit verify [--org ID]` walks the chains (verify_chains below).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from django.db import connection

GENESIS = "0" * 64
# pg_advisory_xact_lock(int, int): this namespace, then the organization id (0: no organization).
LOCK_NAMESPACE = 0x4155_4449  # "AUDI"
HASHED_FIELDS = (
    "created_at",
    "organization_id",
    "organization_name",
    "action",
    "actor_user_id",
    "actor_email",
    "actor_key_id",
    "actor_key_prefix",
    "target_type",
    "target_id",
    "target_repr",
    "ip",
    "user_agent",
    "request_id",
    "changes",
)


def canonical(event: Any) -> bytes:
    """The event's content as the database gives it back: UTC timestamp, compressed IP address,
    JSON with sorted keys (jsonb does not keep key order)."""
    values = {name: getattr(event, name) for name in HASHED_FIELDS}
    values["created_at"] = event.created_at.astimezone(UTC).isoformat()
    values["ip"] = _ip(event.ip)
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _ip(value: str | None) -> str | None:
    try:
        return ipaddress.ip_address(value).compressed if value else None
    except ValueError:
        return value


def event_digest(prev_hash: str, event: Any) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(event)).hexdigest()


def lock_chain(organization_id: int | None) -> None:
    """Hold this organization's chain until the transaction ends (must be inside one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, (organization_id or 0) & 0x7FFF_FFFF]
        )


@dataclass(frozen=True)
class Break:
    organization_id: int | None
    event_id: int
    reason: str

    def __str__(self) -> str:
        chain = f"organization {self.organization_id}" if self.organization_id else "no organization"
        return f"{chain}: event #{self.event_id} {self.reason}"


@dataclass
class Report:
    events: int = 0
    chains: int = 0
    first_break: Break | None = None
    heads: dict[int | None, str] = field(default_factory=dict)  # organization id -> last hash


def verify_chains(events: Iterator[Any]) -> Report:
    """Walk events ordered by (organization_id, id); stop at the first broken link."""
    report = Report()
    expected_prev = GENESIS
    for event in events:
        if event.organization_id not in report.heads:
            expected_prev = GENESIS
            report.chains += 1
        report.events += 1
        if event.prev_hash != expected_prev:
            reason = (
                "does not follow the event before it: an event was removed or inserted here, "
                "or the one before was rewritten with its hash"
            )
            report.first_break = Break(event.organization_id, event.pk, reason)
            return report
        if event.event_hash != event_digest(event.prev_hash, event):
            reason = "was changed after it was recorded: its content does not match its hash"
            report.first_break = Break(event.organization_id, event.pk, reason)
            return report
        expected_prev = report.heads[event.organization_id] = event.event_hash
    return report
