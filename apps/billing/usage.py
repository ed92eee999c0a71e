"""The usage meter's PostgreSQL side: the idempotent flush of Redis counters, the write-path
count used while Redis is down, and the reads behind the usage page and API.

Flush, crash-safe: the pending hash is RENAMEd (atomic in Redis, so no increment is lost between
read and reset) to `vigil:usage:flush:<id>`; its counts are upserted together with a UsageFlush
row for <id> in one transaction; only then is the key deleted. A run that finds a flush key left
by a crashed run applies it first — or, if its UsageFlush row exists, just deletes it. So a batch
of counts is applied exactly once whatever fails when.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction

from apps.billing import state
from apps.billing.models import Outcome
from apps.billing.quota import PENDING_KEY

logger = logging.getLogger(__name__)

FLUSH_PREFIX = "vigil:usage:flush:"
SIGNALS = ("logs", "traces", "metrics")

UPSERT_MINUTES = """
INSERT INTO billing_usageminute (organization_id, project_id, signal, outcome, minute, count)
SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::bigint[])
ON CONFLICT (organization_id, minute, project_id, signal, outcome)
DO UPDATE SET count = billing_usageminute.count + EXCLUDED.count
"""
UPSERT_DAYS = """
INSERT INTO billing_usageday (organization_id, project_id, signal, outcome, day, count)
SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::date[], %s::bigint[])
ON CONFLICT (organization_id, day, project_id, signal, outcome)
DO UPDATE SET count = billing_usageday.count + EXCLUDED.count
"""
UPSERT_HOURS = """
INSERT INTO billing_usagehour (organization_id, project_id, signal, outcome, hour, count)
SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::bigint[])
ON CONFLICT (organization_id, hour, project_id, signal, outcome)
DO UPDATE SET count = billing_usagehour.count + EXCLUDED.count
"""
Row = tuple[int, int, str, str]  # organization_id, project_id, signal, outcome


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)


def flush(now: datetime | None = None) -> int:
    """Move the pending counters into PostgreSQL; returns the number of counters applied."""
    client = _client()
    try:
        keys = [bytes(key).decode() for key in client.scan_iter(FLUSH_PREFIX + "*", count=100)]
        fresh = FLUSH_PREFIX + uuid.uuid4().hex
        try:
            client.rename(PENDING_KEY, fresh)
            keys.append(fresh)
        except redis.ResponseError:
            pass  # nothing pending
        applied = 0
        for key in keys:
            applied += _apply(client, key)
    finally:
        client.close()
    _prune_minutes(now or datetime.now(UTC))
    return applied


def _apply(client: redis.Redis, key: str) -> int:
    counters: dict[bytes, bytes] = client.hgetall(key)  # type: ignore[assignment]
    minutes: dict[tuple[Row, int], int] = defaultdict(int)
    for raw_field, raw_count in counters.items():
        try:
            org, project, signal, outcome, minute = bytes(raw_field).decode().split("|")
            minutes[((int(org), int(project), signal, outcome), int(minute))] += int(raw_count)
        except ValueError:
            logger.error("usage flush: malformed counter %r skipped", raw_field)
    flush_id = key.removeprefix(FLUSH_PREFIX)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_usageflush (flush_id, applied_at, fields) VALUES (%s, now(), %s)"
            " ON CONFLICT DO NOTHING",
            [flush_id, len(minutes)],
        )
        if cursor.rowcount == 1:
            _upsert(
                cursor, {(row, datetime.fromtimestamp(m, UTC)): c for (row, m), c in minutes.items() if c}
            )
        else:
            logger.info("usage flush: %s was already applied", flush_id)
    client.delete(key)
    return len(minutes)


def _upsert(cursor: Any, minutes: dict[tuple[Row, datetime], int]) -> None:
    if not minutes:
        return
    days: dict[tuple[Row, date], int] = defaultdict(int)
    hours: dict[tuple[Row, datetime], int] = defaultdict(int)
    for (row, minute), count in minutes.items():
        days[(row, minute.date())] += count
        hours[(row, minute.replace(minute=0))] += count
    for sql, items in ((UPSERT_MINUTES, minutes), (UPSERT_HOURS, hours), (UPSERT_DAYS, days)):
        # Sorted: concurrent upserts (flush and write-path counting) take row locks in one order.
        ordered = sorted(items.items(), key=lambda item: (item[0][0], item[0][1]))
        columns: list[list[Any]] = [[], [], [], [], [], []]
        for ((org, project, signal, outcome), at), count in ordered:
            for column, value in zip(columns, (org, project, signal, outcome, at, count), strict=True):
                column.append(value)
        cursor.execute(sql, columns)


def count_in_transaction(
    organization_id: int, project_id: int, signal: str, accepted: int, at: datetime | None = None
) -> None:
    """Redis is down: count the accepted records in the transaction that stores them (so the
    count is exactly what was committed) and note the minute as a metering gap. `at`: the
    request's arrival (default now)."""
    minute = (at or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    with connection.cursor() as cursor:
        if accepted:
            _upsert(
                cursor, {((organization_id, project_id, signal, Outcome.ACCEPTED.value), minute): accepted}
            )
        cursor.execute(
            "INSERT INTO billing_metergap (organization_id, minute, requests) VALUES (%s, %s, 1)"
            " ON CONFLICT (organization_id, minute) DO UPDATE SET requests = billing_metergap.requests + 1",
            [organization_id, minute],
        )


def _prune_minutes(now: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM billing_usageminute WHERE minute < %s",
            [now - timedelta(hours=settings.USAGE_MINUTES_KEPT_HOURS)],
        )
        # Hours: the spike protection's 7-day baseline, and a day to spare.
        cursor.execute("DELETE FROM billing_usagehour WHERE hour < %s", [now - timedelta(days=8)])


def accepted_in_period(organization_id: int, now: datetime) -> int:
    """Accepted events this billing period as PostgreSQL knows them (seeds the Redis counter)."""
    start, end = state.period_bounds(now)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(count), 0) FROM billing_usageday"
            " WHERE organization_id = %s AND outcome = 'accepted' AND day >= %s AND day < %s",
            [organization_id, start.date(), end.date()],
        )
        return int(cursor.fetchone()[0])


def note_record_days(
    organization_id: int, project_id: int, signal: str, arrival: date, by_day: dict[date, int]
) -> None:
    """In the transaction that stores a batch: how many of its records fall on days other than
    the one they arrived (and were metered) on. The nightly recount (apps.billing.recount) moves
    them from their arrival day to their own to compare with the stored rows."""
    moved = sorted((day, count) for day, count in by_day.items() if day != arrival and count)
    if not moved:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_usagerecordday"
            " (organization_id, project_id, signal, arrival_day, record_day, count)"
            " SELECT %s, %s, %s, %s, day, n FROM unnest(%s::date[], %s::bigint[]) AS moved(day, n)"
            " ON CONFLICT (organization_id, project_id, signal, arrival_day, record_day)"
            " DO UPDATE SET count = billing_usagerecordday.count + EXCLUDED.count",
            [
                organization_id,
                project_id,
                signal,
                arrival,
                [day for day, _ in moved],
                [count for _, count in moved],
            ],
        )
