"""Reads of spans: one trace as a tree (with its logs), and recent traces of a project.

Raw SQL on purpose: traces_span is a partitioned table written by COPY (apps.traces.storage)
and has no Django model; every query starts with project_id, the leading column of each index.
A trace's logs come from their owner, apps.logs.selectors.trace_logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connection

from apps.billing import retention
from apps.logs.selectors import trace_logs

TRACE_SPAN_LIMIT = 10_000
TRACE_LOG_LIMIT = 1_000
STATUS_ERROR = 2
# The relation other apps' queries may read spans from (apps.dashboards: counts per minute); a
# simple projection that PostgreSQL pulls up, so partitions are pruned as if the table were named.
SPAN_ROWS = "(SELECT project_id, start_ts, status_code FROM traces_span)"

SPAN_COLUMNS = (
    "span_id, parent_span_id, name, kind, start_ts, end_ts, duration_ns, status_code, status_message,"
    " service, trace_state, attributes, resource, events, links"
)


JSON_COLUMNS = {"attributes", "resource", "events", "links"}


def _rows(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    # Django registers a text loader for jsonb (its JSONField parses), so raw queries parse here.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        for name in JSON_COLUMNS.intersection(row):
            if isinstance(row[name], str):
                row[name] = orjson.loads(row[name])
    return rows


def _span(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "span_id": row["span_id"],
        "parent_span_id": row["parent_span_id"] or None,
        "name": row["name"],
        "service": row["service"],
        "kind": row["kind"],
        "start": row["start_ts"],
        "end": row["end_ts"],
        "duration_ms": row["duration_ns"] / 1e6,
        "status": {"code": row["status_code"], "message": row["status_message"]},
        "is_error": row["status_code"] == STATUS_ERROR,
        "trace_state": row["trace_state"],
        "attributes": row["attributes"],
        "resource": row["resource"],
        "events": row["events"],
        "links": row["links"],
        "children": [],
    }


def _tree(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nest spans under their parents; spans whose parent never arrived become roots too."""
    by_id = {span["span_id"]: span for span in spans}
    roots = []
    for span in spans:  # already in start order, so children come out in start order
        parent = by_id.get(span["parent_span_id"] or "")
        if parent is None or parent is span:
            roots.append(span)
        else:
            parent["children"].append(span)
    return roots


def trace_detail(project_id: int, trace_id: str) -> dict[str, Any] | None:
    """Spans and logs within the project's retention only (see apps.billing.retention)."""
    now = datetime.now(UTC)
    rows = _rows(
        f"SELECT {SPAN_COLUMNS} FROM traces_span WHERE project_id = %s AND trace_id = %s"  # noqa: S608
        " AND start_ts >= %s ORDER BY start_ts, span_id LIMIT %s",
        [project_id, trace_id, retention.cutoff(project_id, now, "span"), TRACE_SPAN_LIMIT],
    )
    logs = trace_logs(project_id, trace_id, TRACE_LOG_LIMIT)
    if not rows and not logs:
        return None
    spans = [_span(row) for row in rows]
    start = min((s["start"] for s in spans), default=None)
    end = max((s["end"] for s in spans), default=None)
    roots = _tree(spans)
    return {
        "trace_id": trace_id,
        "root_name": roots[0]["name"] if roots else None,
        "start": start,
        "duration_ms": (end - start).total_seconds() * 1000 if start and end else None,
        "span_count": len(spans),
        "error_count": sum(1 for s in spans if s["is_error"]),
        "services": sorted({s["service"] for s in spans if s["service"]}),
        "spans": roots,
        "logs": logs,
    }


@dataclass(frozen=True)
class TraceFilter:
    start: datetime
    end: datetime
    q: str = ""
    service: str = ""
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    errors_only: bool = False
    limit: int = 50


def recent_traces(project_id: int, filters: TraceFilter) -> list[dict[str, Any]]:
    """Root spans started in the window, newest first, with the trace's error flag.

    The start_ts bounds prune partitions; (project_id, start_ts DESC) serves the order.
    """
    where = ["r.project_id = %s", "r.start_ts >= %s", "r.start_ts < %s", "r.parent_span_id IS NULL"]
    oldest = max(filters.start, retention.cutoff(project_id, datetime.now(UTC), "span"))
    params: list[Any] = [project_id, oldest, filters.end]
    if filters.q:
        where.append("(r.name ILIKE %s OR r.service ILIKE %s)")
        pattern = "%" + filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pattern, pattern]
    if filters.service:
        where.append("r.service = %s")
        params.append(filters.service)
    if filters.min_duration_ms is not None:
        where.append("r.duration_ns >= %s")
        params.append(int(filters.min_duration_ms * 1e6))
    if filters.max_duration_ms is not None:
        where.append("r.duration_ns <= %s")
        params.append(int(filters.max_duration_ms * 1e6))
    # Only constant fragments are formatted into the SQL below; every value is a parameter.
    has_error = (  # status_code 2 = OTLP STATUS_CODE_ERROR (STATUS_ERROR)
        "EXISTS (SELECT 1 FROM traces_span e WHERE e.project_id = r.project_id AND e.trace_id = r.trace_id"
        " AND e.status_code = 2)"
    )
    if filters.errors_only:
        where.append(has_error)
    # The error flag is computed for the page of roots only: in the select list of the same query the
    # planner may expect thousands of roots and hash every error span of the table instead (measured
    # 3 ms -> 65 ms for one hour of a 1 M-span project, depending on the hour's statistics).
    sql = (
        f"SELECT r.trace_id, r.name, r.service, r.start_ts, r.duration_ns, {has_error} AS has_error"  # noqa: S608
        f" FROM (SELECT r.project_id, r.trace_id, r.name, r.service, r.start_ts, r.duration_ns"
        f" FROM traces_span r WHERE {' AND '.join(where)} ORDER BY r.start_ts DESC LIMIT %s) r"
        " ORDER BY r.start_ts DESC"
    )
    rows = _rows(sql, [*params, filters.limit])
    return [
        {
            "trace_id": row["trace_id"],
            "root_name": row["name"],
            "service": row["service"],
            "start": row["start_ts"],
            "duration_ms": row["duration_ns"] / 1e6,
            "has_error": row["has_error"],
        }
        for row in rows
    ]


# --- Window statistics for alert policies (apps.alerts reads spans only through these) ---------

SPAN_PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
SPAN_GROUP_COLUMNS = {None: "''", "service": "service", "name": "name"}


@dataclass(frozen=True)
class SpanWindow:
    count: int
    errors: int
    duration_ms: float | None  # the asked percentile of durations, if one was asked


def span_window_stats(
    project_id: int,
    start: datetime,
    end: datetime,
    service: str = "",
    name: str = "",
    percentile: str | None = None,
    group_by: str | None = None,
) -> dict[str, SpanWindow]:
    """Spans started in [start, end) per group ('' without group_by): count, errors (status
    ERROR) and optionally a percentile of duration. The (project_id, start_ts) index serves it."""
    key = SPAN_GROUP_COLUMNS[group_by]  # a closed set
    quantile = "NULL::float8"
    params: list[Any] = []
    if percentile is not None:
        quantile = "percentile_cont(%s) WITHIN GROUP (ORDER BY duration_ns) / 1e6"
        params.append(SPAN_PERCENTILES[percentile])
    where = ["project_id = %s", "start_ts >= %s", "start_ts < %s"]
    params += [project_id, max(start, retention.cutoff(project_id, datetime.now(UTC), "span")), end]
    if service:
        where.append("service = %s")
        params.append(service)
    if name:
        where.append("name = %s")
        params.append(name)
    sql = (
        f"SELECT {key}, count(*), count(*) FILTER (WHERE status_code = {STATUS_ERROR}), {quantile}"  # noqa: S608
        f" FROM traces_span WHERE {' AND '.join(where)} GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            str(k): SpanWindow(int(n), int(e), float(q) if q is not None else None)
            for k, n, e, q in cursor.fetchall()
        }


@dataclass(frozen=True)
class SpanWindowRequest:
    """The arguments of one span_window_stats call, for span_window_stats_many."""

    project_id: int
    start: datetime
    end: datetime
    service: str = ""
    name: str = ""
    percentile: str | None = None
    group_by: str | None = None


STATS_PER_STATEMENT = 100  # as apps.logs.selectors.COUNTS_PER_STATEMENT


def span_window_stats_many(requests: Sequence[SpanWindowRequest]) -> list[dict[str, SpanWindow]]:
    """span_window_stats of each request (same answers, in order), in one statement per group
    column and window: each request's aggregates carry a FILTER on its project and span filter,
    so the spans of a project's window are read once however many policies look at them."""
    results: list[dict[str, SpanWindow]] = [{} for _ in requests]
    shapes: dict[tuple[str | None, datetime, datetime], list[int]] = {}
    for index, request in enumerate(requests):
        shapes.setdefault((request.group_by, request.start, request.end), []).append(index)
    for (group_by, start, end), indexes in shapes.items():
        for first in range(0, len(indexes), STATS_PER_STATEMENT):
            chunk = indexes[first : first + STATS_PER_STATEMENT]
            _stats_statement([requests[i] for i in chunk], group_by, start, end, [results[i] for i in chunk])
    return results


def _stats_statement(
    requests: list[SpanWindowRequest],
    group_by: str | None,
    start: datetime,
    end: datetime,
    results: list[dict[str, SpanWindow]],
) -> None:
    key = SPAN_GROUP_COLUMNS[group_by]  # a closed set
    now = datetime.now(UTC)
    columns, params = [], list[Any]()
    for request in requests:
        # The request's own rows: its project, its retention, its filters.
        match = "project_id = %s AND start_ts >= %s"
        match_params: list[Any] = [request.project_id, retention.cutoff(request.project_id, now, "span")]
        if request.service:
            match += " AND service = %s"
            match_params.append(request.service)
        if request.name:
            match += " AND name = %s"
            match_params.append(request.name)
        columns.append(f"count(*) FILTER (WHERE {match})")
        columns.append(f"count(*) FILTER (WHERE {match} AND status_code = {STATUS_ERROR})")
        params += [*match_params, *match_params]
        if request.percentile is None:
            columns.append("NULL::float8")
        else:
            columns.append(
                f"percentile_cont(%s) WITHIN GROUP (ORDER BY duration_ns) FILTER (WHERE {match}) / 1e6"
            )
            params += [SPAN_PERCENTILES[request.percentile], *match_params]
    projects = sorted({request.project_id for request in requests})
    sql = (
        f"SELECT project_id, {key}, {', '.join(columns)} FROM traces_span"  # noqa: S608 (constants only)
        " WHERE project_id = ANY(%s) AND start_ts >= %s AND start_ts < %s GROUP BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, projects, start, end])
        rows = cursor.fetchall()
    for project_id, k, *values in rows:
        for n, (request, result) in enumerate(zip(requests, results, strict=True)):
            count, errors, quantile = values[3 * n : 3 * n + 3]
            # As span_window_stats: a group appears only when some span of it matched.
            if count and request.project_id == project_id:
                result[str(k)] = SpanWindow(
                    int(count), int(errors), float(quantile) if quantile is not None else None
                )


def span_services_seen_many(project_ids: Sequence[int], since: datetime) -> dict[int, list[str]]:
    """span_services_seen of several projects in one statement."""
    seen: dict[int, list[str]] = {project_id: [] for project_id in project_ids}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT project_id, service FROM traces_span"
            " WHERE project_id = ANY(%s) AND start_ts >= %s",
            [sorted(seen), since],
        )
        for project_id, service in cursor.fetchall():
            seen[project_id].append(service)
    return {project_id: sorted(services) for project_id, services in seen.items()}


def span_services_seen(project_id: int, since: datetime) -> list[str]:
    """Services that sent spans since `since`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT service FROM traces_span WHERE project_id = %s AND start_ts >= %s",
            [project_id, since],
        )
        return sorted(row[0] for row in cursor.fetchall())


def count_spans_by_project(start: datetime, end: datetime) -> dict[int, int]:
    """Stored spans per project with `start_ts` (the partition key) in [start, end): billing's
    nightly recount of what it metered (apps.billing.recount)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT project_id, count(*) FROM traces_span WHERE start_ts >= %s AND start_ts < %s"
            " GROUP BY project_id",
            [start, end],
        )
        return {int(project_id): int(n) for project_id, n in cursor.fetchall()}
