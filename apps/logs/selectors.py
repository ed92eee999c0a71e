"""Reads of logs_event: search, stats, patterns and a trace's logs. Raw SQL on purpose (hot path,
no ORM model).

Every statement starts with `project_id = %s AND ts >= %s AND ts < %s`: partition pruning on ts
and the (project_id, ts DESC) index do the heavy lifting; the compiled query only filters. The
tenant is always an explicit argument: callers resolve it with get_project_for first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import orjson
from django.db import connection, transaction

from apps.api.timerange import TimeRange
from apps.billing import retention
from apps.logs.indexes import SLICE, trace_bloom_days
from apps.logs.params import Cursor
from apps.logs.query import And, Node, Not, Or, Text
from apps.logs.sql import compile_for_project

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # slices align to UTC midnight (SLICE divides a day)

# Relations other apps' queries may read from, so a figure that combines logs with spans and
# points (apps.dashboards.summary) stays one statement without naming our tables. Simple
# projections: PostgreSQL pulls them up, so partitions are pruned and indexes used as if the
# table were named. Filter on project_id first.
LOG_ROWS = "(SELECT project_id, ts, level FROM logs_event)"
LOG_LEVEL_MINUTES = "(SELECT project_id, minute, level, count FROM logs_count_level_1m)"

LEVEL_NAMES = ("unspecified", "trace", "debug", "info", "warn", "error", "fatal")


def level_name(severity: int) -> str:
    """OTLP severity number -> class name: 1-4 trace, 5-8 debug, ..., 21-24 fatal, 0 unspecified."""
    return LEVEL_NAMES[(severity + 3) // 4] if 0 <= severity <= 24 else "unspecified"


class LogRecord(TypedDict):
    timestamp: str
    observed_timestamp: str
    level: str
    severity: int
    service: str
    trace_id: str | None
    span_id: str | None
    message: str
    attributes: Any
    resource: Any


@dataclass(frozen=True)
class SearchPage:
    records: list[LogRecord]
    next_cursor: Cursor | None


# `row_tid`, not `ctid`: ORDER BY resolves output names first, and an output column named ctid (the
# text cast) would sort "(0,10)" before "(0,9)", disagreeing with the tid comparison of the cursor.
SEARCH = """
SELECT ts, observed_ts, level, service, trace_id, span_id, message, attributes::text, resource::text,
       ctid::text AS row_tid
FROM logs_event
WHERE project_id = %s AND ts >= %s AND ts < %s {after} AND {condition}
ORDER BY ts DESC, ctid DESC
LIMIT %s
"""
# Keyset: `ts <= cursor.ts` is an index bound; the row comparison settles ties on ctid (see
# apps.logs.params for why ctid is a stable tie-break here).
AFTER_CURSOR = "AND ts <= %s AND (ts, ctid) < (%s, %s::tid)"


def search_logs(
    project_id: int, query: Node | None, window: TimeRange, limit: int, cursor: Cursor | None = None
) -> SearchPage:
    """Newest first. Text searches run piece by piece (see _pieces), stopping once the page is full."""
    condition, params = compile_for_project(project_id, query)
    after, after_params = "", list[Any]()
    if cursor is not None:
        after, after_params = AFTER_CURSOR, [cursor.ts, cursor.ts, cursor.ctid]
    sql = SEARCH.format(after=after, condition=condition)
    pieces = _pieces(window, cursor) if has_text(query) else [window]
    rows: list[tuple[Any, ...]] = []
    with connection.cursor() as db:
        for piece in pieces:
            # One more row than asked tells whether a next page exists without a count(*).
            wanted = limit + 1 - len(rows)
            db.execute(sql, [project_id, piece.start, piece.end, *after_params, *params, wanted])
            rows += db.fetchall()
            if len(rows) > limit:
                break
    next_cursor = Cursor(rows[limit - 1][0], rows[limit - 1][9]) if len(rows) > limit else None
    return SearchPage([_record(row) for row in rows[:limit]], next_cursor)


def has_text(node: Node | None) -> bool:
    if isinstance(node, Text):
        return True
    if isinstance(node, Not):
        return has_text(node.operand)
    if isinstance(node, And | Or):
        return any(has_text(operand) for operand in node.operands)
    return False


def _pieces(window: TimeRange, cursor: Cursor | None) -> list[TimeRange]:
    """The window cut at SLICE boundaries, newest first.

    Each piece lies inside one trigram slice index's `ts` range (apps.logs.indexes), which is
    what lets the planner use a partial index: it must prove the query's constant bounds imply
    the index predicate. Sealed partitions have a full index and do not care about the cut.
    """
    end = window.end if cursor is None else min(window.end, cursor.ts + timedelta(microseconds=1))
    # Before yesterday every partition is sealed (one full index each): one piece covers it all,
    # so a 30-day search is not 240 round trips.
    yesterday = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    pieces = []
    while end > window.start:
        boundary = EPOCH + ((end - EPOCH - timedelta(microseconds=1)) // SLICE) * SLICE
        start = max(window.start, boundary if end > yesterday else window.start)
        pieces.append(TimeRange(start, end))
        end = start
    return pieces


def _record(row: tuple[Any, ...]) -> LogRecord:
    ts, observed, level, service, trace_id, span_id, message, attributes, resource, _ = row
    return LogRecord(
        timestamp=ts.isoformat(),
        observed_timestamp=observed.isoformat(),
        level=level_name(level),
        severity=level,
        service=service,
        trace_id=trace_id,
        span_id=span_id,
        message=message,
        attributes=orjson.loads(attributes),
        resource=orjson.loads(resource),
    )


# Fingerprint: the variable parts of a message become placeholders, so "user 42 logged in" and
# "user 7 logged in" group together. Order matters: quoted values and ids before bare numbers.
# Only the first 500 characters count, which bounds the regex work per row.
FINGERPRINT = """
regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
regexp_replace(left(message, 500),
  '"[^"]*"', '"<str>"', 'g'),
  '(^|[^[:alnum:]])''[^'']*''', '\\1''<str>''', 'g'),
  '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'gi'),
  '\\m[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(:[0-9]{1,5})?\\M|\\m([0-9a-f]{1,4}:){4,7}[0-9a-f]{1,4}\\M',
  '<ip>', 'gi'),
  '\\m0x[0-9a-f]+\\M|\\m(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\\M', '<hex>', 'gi'),
  '-?[0-9]+(\\.[0-9]+)?', '<num>', 'g'),
  '\\s+', ' ', 'g')
"""

PATTERNS = """
WITH sample AS (
    SELECT ts, level, message FROM logs_event
    WHERE project_id = %s AND ts >= %s AND ts < %s AND {condition}
    ORDER BY ts DESC
    LIMIT %s
)
SELECT fingerprint, count(*), min(ts), max(ts), max(level), (array_agg(message ORDER BY ts DESC))[1],
       sum(count(*)) OVER () -- rows sampled, counted before LIMIT cuts the groups
FROM (SELECT ts, level, message, {fingerprint} AS fingerprint FROM sample) AS fingerprinted
GROUP BY fingerprint
ORDER BY {order}
LIMIT %s
"""
PATTERN_ORDERS = {"count": "count(*) DESC, max(ts) DESC", "new": "min(ts) DESC, count(*) DESC"}


class Pattern(TypedDict):
    fingerprint: str
    count: int
    first_seen: str
    last_seen: str
    level: str
    example: str


@dataclass(frozen=True)
class PatternReport:
    patterns: list[Pattern]
    scanned: int
    truncated: bool  # the sample limit was reached: counts cover the newest `scanned` rows only


def log_patterns(
    project_id: int, query: Node | None, window: TimeRange, sample: int, limit: int, order: str = "count"
) -> PatternReport:
    condition, params = compile_for_project(project_id, query)
    sql = PATTERNS.format(condition=condition, fingerprint=FINGERPRINT, order=PATTERN_ORDERS[order])
    with connection.cursor() as db:
        db.execute(sql, [project_id, window.start, window.end, *params, sample, limit])
        rows = db.fetchall()
    scanned = int(rows[0][6]) if rows else 0
    patterns = [
        Pattern(
            fingerprint=fp,
            count=count,
            first_seen=first.isoformat(),
            last_seen=last.isoformat(),
            level=level_name(level),
            example=example,
        )
        for fp, count, first, last, level, example, _ in rows
    ]
    return PatternReport(patterns, scanned, scanned >= sample)


TRACE_LOG_COLUMNS = "ts, level, service, span_id, message, attributes::text"
# How trace_logs_sql runs: sequential scans off (see there); ~1 ms lookups need no parallel workers.
TRACE_LOOKUP_SETTINGS = ("SET LOCAL enable_seqscan = off", "SET LOCAL max_parallel_workers_per_gather = 0")


def trace_logs(project_id: int, trace_id: str, limit: int) -> list[dict[str, Any]]:
    """The logs that carry one trace id, within the project's retention, oldest first."""
    sql, params = trace_logs_sql(project_id, trace_id, limit, datetime.now(UTC))
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in TRACE_LOOKUP_SETTINGS:
            cursor.execute(setting)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        {
            "ts": ts,
            "level": level,
            "level_name": level_name(level),  # so pages need not know the severity classes
            "service": service,
            "span_id": span_id,
            "message": message,
            "attributes": orjson.loads(attributes),
        }
        for ts, level, service, span_id, message, attributes in rows
    ]


def trace_logs_sql(project_id: int, trace_id: str, limit: int, now: datetime) -> tuple[str, list[Any]]:
    """Days served by the exact trace B-tree are read through it. The newest days have only the
    bloom index (indexes.trace_bloom_days), which the planner would pass over for a scan: each is
    read behind an OFFSET 0 fence that keeps the project, time and retention filters outside, so
    inside it only `trace_id = %s` remains and the bloom is the one index that serves it (with
    sequential scans off, TRACE_LOOKUP_SETTINGS; else small days would still be scanned)."""
    kept, cutoffs = retention.log_cutoffs(project_id, now).sql()
    bloom_days = trace_bloom_days()
    # The rest: older days, and any day made after the catalog was read.
    rest = ""
    params: list[Any] = []
    if bloom_days:
        rest = "(ts < %s OR ts >= %s) AND "
        params = [bloom_days[0][1], bloom_days[-1][1] + timedelta(days=1)]
    parts = [
        f"SELECT {TRACE_LOG_COLUMNS} FROM logs_event WHERE {rest}project_id = %s AND trace_id = %s AND {kept}"  # noqa: S608 (constants)
    ]
    params += [project_id, trace_id, *cutoffs]
    for table, _ in bloom_days:  # names from pg_class, matched by indexes._PARTITION_RE
        parts.append(
            f"SELECT {TRACE_LOG_COLUMNS} FROM (SELECT * FROM {table} WHERE trace_id = %s OFFSET 0) fenced"  # noqa: S608
            f" WHERE project_id = %s AND {kept}"
        )
        params += [trace_id, project_id, *cutoffs]
    sql = " UNION ALL ".join(f"({part})" for part in parts) + " ORDER BY ts LIMIT %s"
    return sql, [*params, limit]


# --- Counts for alert policies (apps.alerts reads logs only through these) ---------------------

LOG_GROUP_COLUMNS = {"attr": "attributes", "attributes": "attributes", "resource": "resource"}


def _group_expression(group_by: str | None) -> tuple[str, list[Any]]:
    """SQL of a group key: '' (no grouping), the service, or one attribute/resource key as text
    (flat OTel keys with dots first, then the nested path of native JSON)."""
    if not group_by:
        return "''", []
    if group_by == "service":
        return "service", []
    prefix, key = group_by.split(".", 1)
    column = LOG_GROUP_COLUMNS[prefix]  # a closed set: never input spliced into SQL
    return f"coalesce({column} ->> %s, {column} #>> %s::text[], '')", [key, key.split(".")]


def log_counts(
    project_id: int, query: Node | None, start: datetime, end: datetime, group_by: str | None = None
) -> dict[str, int]:
    """Rows matching `query` in [start, end) per group key ('' without group_by): one round trip,
    the same compiled condition (and retention) as the search."""
    condition, params = compile_for_project(project_id, query)
    key, key_params = _group_expression(group_by)
    sql = (
        f"SELECT {key} AS k, count(*) FROM logs_event"  # noqa: S608 (constants only)
        f" WHERE project_id = %s AND ts >= %s AND ts < %s AND {condition} GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*key_params, project_id, start, end, *params])
        return {str(k): int(n) for k, n in cursor.fetchall()}


@dataclass(frozen=True)
class LogCountRequest:
    """The arguments of one log_counts call, for log_counts_many."""

    project_id: int
    query: Node | None
    start: datetime
    end: datetime
    group_by: str | None = None


# Requests per statement: PostgreSQL evaluates every FILTER on every row read, so a statement
# with thousands of them would cost more than the round trips it saves.
COUNTS_PER_STATEMENT = 100


def log_counts_many(requests: Sequence[LogCountRequest]) -> list[dict[str, int]]:
    """log_counts of each request (same answers, in order), in one statement per group key and
    window instead of one per request: each request is a `count(*) FILTER (...)` of its project's
    rows, so the rows of a project's window are read once (through the (project_id, ts) index)
    however many policies count them, and a batch of policies over many projects is one round
    trip. Alert evaluation reads a batch's policies this way."""
    results: list[dict[str, int]] = [{} for _ in requests]
    shapes: dict[tuple[str | None, datetime, datetime], list[int]] = {}
    for index, request in enumerate(requests):
        shapes.setdefault((request.group_by or None, request.start, request.end), []).append(index)
    for (group_by, start, end), indexes in shapes.items():
        for first in range(0, len(indexes), COUNTS_PER_STATEMENT):
            chunk = indexes[first : first + COUNTS_PER_STATEMENT]
            _counts_statement([requests[i] for i in chunk], group_by, start, end, [results[i] for i in chunk])
    return results


def _counts_statement(
    requests: list[LogCountRequest],
    group_by: str | None,
    start: datetime,
    end: datetime,
    results: list[dict[str, int]],
) -> None:
    key, key_params = _group_expression(group_by)
    filters, params = [], list[Any]()
    for request in requests:
        condition, condition_params = compile_for_project(request.project_id, request.query)
        filters.append(f"count(*) FILTER (WHERE project_id = %s AND {condition})")
        params += [request.project_id, *condition_params]
    projects = sorted({request.project_id for request in requests})
    sql = (
        f"SELECT project_id, {key} AS k, {', '.join(filters)} FROM logs_event"  # noqa: S608 (constants only)
        " WHERE project_id = ANY(%s) AND ts >= %s AND ts < %s GROUP BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*key_params, *params, projects, start, end])
        rows = cursor.fetchall()
    for project_id, k, *counts in rows:
        for request, result, count in zip(requests, results, counts, strict=True):
            # As log_counts: a group appears only when some row of it matched.
            if count and request.project_id == project_id:
                result[str(k)] = int(count)


def log_services_seen(project_id: int, since: datetime) -> list[str]:
    """Services that logged since `since`, from the hourly per-service counts (cheap for 24 h)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT service FROM logs_count_service_1h WHERE project_id = %s AND hour >= %s",
            [project_id, since.replace(minute=0, second=0, microsecond=0)],
        )
        return sorted(row[0] for row in cursor.fetchall())


def log_services_seen_many(project_ids: Sequence[int], since: datetime) -> dict[int, list[str]]:
    """log_services_seen of several projects in one statement."""
    seen: dict[int, list[str]] = {project_id: [] for project_id in project_ids}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT project_id, service FROM logs_count_service_1h"
            " WHERE project_id = ANY(%s) AND hour >= %s",
            [sorted(seen), since.replace(minute=0, second=0, microsecond=0)],
        )
        for project_id, service in cursor.fetchall():
            seen[project_id].append(service)
    return {project_id: sorted(services) for project_id, services in seen.items()}


# Up to this many patterns per call: a flood of distinct messages must not flood the caller.
PATTERN_COUNT_LIMIT = 500


def log_pattern_counts(
    project_id: int,
    query: Node | None,
    start: datetime,
    end: datetime,
    only: list[str] | None = None,
    limit: int = PATTERN_COUNT_LIMIT,
) -> dict[str, tuple[int, str]]:
    """fingerprint -> (rows in [start, end), newest example) of the logs matching `query`, the
    most frequent first; `only` restricts to given fingerprints (a baseline for known ones).
    Every matching row's message is fingerprinted: the cost grows with the rows in the range."""
    condition, params = compile_for_project(project_id, query)
    restrict, restrict_params = ("", []) if only is None else ("WHERE fingerprint = ANY(%s)", [only])
    sql = (
        f"SELECT fingerprint, count(*), (array_agg(message ORDER BY ts DESC))[1] FROM ("  # noqa: S608
        f" SELECT ts, message, {FINGERPRINT} AS fingerprint FROM logs_event"
        f" WHERE project_id = %s AND ts >= %s AND ts < %s AND {condition}) fingerprinted"
        f" {restrict} GROUP BY 1 ORDER BY 2 DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [project_id, start, end, *params, *restrict_params, limit])
        return {fingerprint: (int(count), example) for fingerprint, count, example in cursor.fetchall()}


def count_logs_by_project(start: datetime, end: datetime) -> dict[int, int]:
    """Stored log records per project with `ts` in [start, end): billing's nightly recount of what
    it metered (apps.billing.recount). Exact: a scan of the day's partitions, not the count tables."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT project_id, count(*) FROM logs_event WHERE ts >= %s AND ts < %s GROUP BY project_id",
            [start, end],
        )
        return {int(project_id): int(n) for project_id, n in cursor.fetchall()}
