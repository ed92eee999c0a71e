"""What one live announcement carries (apps.dashboards.live publishes it): built from the rows of a
committed batch, bounded so a Redis message stays small, and foldable (`merge`) while throttled.

Log lines are built only when an event is published (`finish`), not per batch: while a project's
events are throttled, the batches' rows are only referenced, so a project sending 50 batches a second
costs the line building of the ~4 events a second that are sent (measured: building lines per batch
took ~2 ms of CPU per 1,000-record request, a seventh of the endpoint's)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from operator import itemgetter
from typing import Any, TypedDict

import orjson

from apps.ingestion.batch import pg_datetime
from apps.logs.selectors import level_name

LINES_PER_EVENT = 300
LINE_MAX_BYTES = 16 * 1024  # message + attributes + resource of one line
LINE_BUDGET = 64 * 1024  # all lines of one event
SERVICES_PER_EVENT = 20
NAMES_PER_EVENT = 50
TRACE_IDS_PER_EVENT = 10
TRANSITIONS_PER_EVENT = 100  # a storm folds into one event; the Alerts tab reloads past this
STATUS_ERROR = 2  # OTLP span status code ERROR
_TS, _LEVEL, _SERVICE = itemgetter(1), itemgetter(3), itemgetter(4)  # of LOG_COPY rows


class LiveEvent(TypedDict, total=False):
    """One announcement as stored (the consumer adds `id`, and `lines` only for tailing sockets)."""

    kind: str
    count: int
    at: int  # epoch ms of the newest commit folded into this event
    levels: dict[str, int]
    services: list[str]
    ts_min: str
    ts_max: str
    lines: list[Any]
    lines_omitted: int
    names: list[str]
    errors: int
    trace_ids: list[str]
    transitions: list[dict[str, Any]]  # alerts: state changes of alert instances (apps.alerts)
    rows: list[list[tuple[Any, ...]]]  # logs: the folded batches' rows until `finish`; not published


def _event(kind: str, count: int, at: int) -> LiveEvent:
    event = LiveEvent(kind=kind, count=count, at=at)
    if kind == "logs":
        event["levels"], event["services"], event["lines_omitted"] = {}, [], 0
    elif kind == "metrics":
        event["names"] = []
    elif kind == "spans":
        event["errors"], event["services"], event["trace_ids"] = 0, [], []
    return event


def logs_event(rows: list[tuple[Any, ...]], at: int) -> LiveEvent:
    """Rows in apps.logs.storage.COPY column order: (project_id, ts, observed_ts, level,
    service, trace_id, span_id, message, attributes, resource); times as apps.ingestion.batch's
    pg_micros."""
    event = _event("logs", len(rows), at)
    levels: Counter[str] = Counter()
    for severity, n in Counter(map(_LEVEL, rows)).items():  # map + itemgetter: C loops, per batch
        levels[level_name(severity)] += n
    event["levels"] = dict(levels)
    event["services"] = [service for service in dict.fromkeys(map(_SERVICE, rows)) if service][
        :SERVICES_PER_EVENT
    ]
    event["ts_min"] = pg_datetime(min(map(_TS, rows))).isoformat()
    event["ts_max"] = pg_datetime(max(map(_TS, rows))).isoformat()
    event["rows"] = [rows]
    return event


def finish(event: LiveEvent) -> LiveEvent:
    """The event as published: a logs event's lines built from its batches' rows, oldest first,
    within LINES_PER_EVENT and LINE_BUDGET (a line over LINE_MAX_BYTES stays behind); the rest is
    counted in `lines_omitted`, which the page shows."""
    batches = event.pop("rows", None)
    if batches is None:
        return event
    lines: list[dict[str, Any]] = []
    budget, total = LINE_BUDGET, 0
    for rows in batches:
        total += len(rows)
        for row in rows:
            if len(lines) >= LINES_PER_EVENT or budget <= 0:
                break
            size = len(row[7]) + len(row[8]) + len(row[9])
            if size <= LINE_MAX_BYTES and size <= budget:
                budget -= size
                lines.append(log_line(row))
    event["lines"], event["lines_omitted"] = lines, event.get("lines_omitted", 0) + total - len(lines)
    return event


def log_line(row: tuple[Any, ...]) -> dict[str, Any]:
    """One row as the search API returns it (apps.logs.selectors.LogRecord), once orjson has
    written it: the times stay datetimes (orjson writes a UTC datetime as isoformat() does, for a
    twelfth of its cost), and the jsonb columns are JSON text already (orjson wrote them),
    embedded as fragments, never parsed and re-encoded."""
    _, ts, observed, level, service, trace_id, span_id, message, attributes, resource = row
    return {
        "timestamp": pg_datetime(ts),
        "observed_timestamp": pg_datetime(observed),
        "level": level_name(level),
        "severity": level,
        "service": service,
        "trace_id": trace_id,
        "span_id": span_id,
        "message": message,
        "attributes": _fragment(attributes),
        "resource": _fragment(resource),
    }


def _fragment(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return orjson.Fragment(raw[1:] if raw[:1] == b"\x01" else raw)  # jsonb binary: version byte
    return value


def spans_event(rows: list[tuple[Any, ...]], at: int) -> LiveEvent:
    """Rows in apps.traces.storage.COPY order: trace_id at 1, status_code at 9, service at 11."""
    event = _event("spans", len(rows), at)
    failed = [row for row in rows if row[9] == STATUS_ERROR]
    event["errors"] = len(failed)
    event["services"] = _first(row[11] for row in rows if row[11])[:SERVICES_PER_EVENT]
    event["trace_ids"] = _first(row[1] for row in failed + rows)[:TRACE_IDS_PER_EVENT]
    return event


def metrics_event(rows: list[tuple[Any, ...]], series: dict[bytes, Any], at: int) -> LiveEvent:
    """Points carry their series' labels hash at 1 (apps.ingestion.batch.Batch.points)."""
    event = _event("metrics", len(rows), at)
    event["names"] = _first(series[row[1]].name for row in rows if row[1] in series)[:NAMES_PER_EVENT]
    return event


def _first(values: Iterable[str]) -> list[str]:
    """Distinct values in order of appearance."""
    return list(dict.fromkeys(values))


def merge(into: LiveEvent, other: LiveEvent) -> LiveEvent:
    """Fold `other` (a later event of the same kind) into `into`: totals add up, lists stay bounded."""
    into["count"] = into.get("count", 0) + other.get("count", 0)
    into["at"] = max(into.get("at", 0), other.get("at", 0))
    if "levels" in other:
        levels = into.setdefault("levels", {})
        for name, n in other["levels"].items():
            levels[name] = levels.get(name, 0) + n
    if "services" in other:
        into["services"] = _first([*into.get("services", []), *other["services"]])[:SERVICES_PER_EVENT]
    if "names" in other:
        into["names"] = _first([*into.get("names", []), *other["names"]])[:NAMES_PER_EVENT]
    if "trace_ids" in other:
        into["trace_ids"] = _first([*into.get("trace_ids", []), *other["trace_ids"]])[:TRACE_IDS_PER_EVENT]
    if "errors" in other:
        into["errors"] = into.get("errors", 0) + other["errors"]
    if "ts_min" in other:
        into["ts_min"] = min(into.get("ts_min", other["ts_min"]), other["ts_min"])
        into["ts_max"] = max(into.get("ts_max", other["ts_max"]), other["ts_max"])
    if "transitions" in other:
        into["transitions"] = [*into.get("transitions", []), *other["transitions"]][:TRANSITIONS_PER_EVENT]
    if "rows" in other:
        into.setdefault("rows", []).extend(other["rows"])
    if "lines_omitted" in other:
        into["lines_omitted"] = into.get("lines_omitted", 0) + other["lines_omitted"]
    return into
