"""The typed spec of each policy kind: validation (every problem named by its field) and
normalisation (defaults filled in), shared by the API, the admin forms and the rule pack.

    log_count  {"query": "level>=error service:api", "group_by": null | "service" | "attr.<key>"}
    log_ratio  {"query": <matching>, "total_query": <all, default "">, "group_by": ...}  value in %
    metric     {"name", "labels": {k: v | [v, ...]}, "agg", "group_by": [label, ...],
                "divide_by": null | {"name", "labels", "agg"}}            (A / B when divide_by)
    span       {"measure": "error_ratio" (%) | "p50" | "p90" | "p95" | "p99" (ms) | "count",
                "service": "", "name": "", "group_by": null | "service" | "name"}
    absence    {"source": "logs" | "spans" | "any" | "metrics", "query" (logs), "service" (spans, any),
                "name" (metrics), "group_by": null | "service", "lookback": "24h"}
               value = items in the window; with group_by service, every service seen within
               the lookback is an instance, so one that stops sending counts 0 (and fires).
    heartbeat  {"heartbeat": "<uuid>"}                      (made by the heartbeats API only)
    new_pattern {"mode": "new" | "spike", "query": "level>=warn", "baseline": "7d"}
               one instance per message pattern (apps.logs' fingerprints) seen in the window;
               new: value = its count if it never occurred in the baseline before the window,
               else 0 (use > 0); spike: value = its rate in the window / its baseline rate
               (a pattern absent from the baseline counts as once in it), so the threshold
               is the factor (> 5 = five times the usual rate).
    new_issue, issue_regression, issue_unignored, issue_events: see apps.alerts.error_kinds.
"""

from __future__ import annotations

from typing import Any

from apps.alerts import error_kinds
from apps.alerts.durations import parse_duration
from apps.logs.query import QuerySyntaxError, parse

METRIC_AGGS = ("avg", "min", "max", "sum", "count", "last", "rate", "p50", "p90", "p95", "p99")
SPAN_MEASURES = ("error_ratio", "p50", "p90", "p95", "p99", "count")
PATTERN_MODES = ("new", "spike")
ABSENCE_SOURCES = ("logs", "spans", "any", "metrics")  # any = logs and spans
LOG_GROUP_PREFIXES = ("attr.", "attributes.", "resource.")
MAX_LOOKBACK_SECONDS = 7 * 86400


class SpecError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _object(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise SpecError({"spec": "must be a JSON object"})
    return spec


def _text(spec: dict[str, Any], name: str, errors: dict[str, str], required: bool = False) -> str:
    value = spec.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > 2000:
        errors[name] = "must be a string of at most 2000 characters"
        return ""
    if required and not value.strip():
        errors[name] = "is required"
    return value.strip()


def _query(spec: dict[str, Any], name: str, errors: dict[str, str], required: bool = False) -> str:
    source = _text(spec, name, errors, required)
    if name not in errors:
        try:
            parse(source)
        except QuerySyntaxError as exc:
            errors[name] = f"{exc} (position {exc.position}, expected {exc.expected})"
    return source


def _log_group_by(spec: dict[str, Any], errors: dict[str, str]) -> str | None:
    value = spec.get("group_by")
    if value in (None, ""):
        return None
    if value == "service" or (
        isinstance(value, str)
        and value.startswith(LOG_GROUP_PREFIXES)
        and 0 < len(value.split(".", 1)[1]) <= 200
    ):
        return str(value)
    errors["group_by"] = "must be null, 'service' or 'attr.<key>' / 'resource.<key>'"
    return None


def _labels(spec: dict[str, Any], errors: dict[str, str], name: str = "labels") -> dict[str, list[str]]:
    raw = spec.get(name) or {}
    if not isinstance(raw, dict):
        errors[name] = "must be an object of label: value or [values]"
        return {}
    result: dict[str, list[str]] = {}
    for key, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if (
            not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
            or not values
        ):
            errors[name] = f"label {key!r} must be a string or a non-empty list of strings"
            return {}
        result[str(key)] = [str(v) for v in values]
    return result


def _metric(spec: dict[str, Any], errors: dict[str, str], prefix: str = "") -> dict[str, Any]:
    name = _text(spec, "name", errors, required=True)
    agg = spec.get("agg", "avg")
    if agg not in METRIC_AGGS:
        errors[prefix + "agg"] = f"must be one of {', '.join(METRIC_AGGS)}"
    return {"name": name, "labels": _labels(spec, errors), "agg": agg}


def _log_count(spec: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {"query": _query(spec, "query", errors), "group_by": _log_group_by(spec, errors)}


def _log_ratio(spec: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "query": _query(spec, "query", errors, required=True),
        "total_query": _query(spec, "total_query", errors),
        "group_by": _log_group_by(spec, errors),
    }


def _metric_spec(spec: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    result = _metric(spec, errors)
    group_by = spec.get("group_by") or []
    if isinstance(group_by, str):
        group_by = [g.strip() for g in group_by.split(",") if g.strip()]
    if not isinstance(group_by, list) or not all(isinstance(g, str) and g for g in group_by):
        errors["group_by"] = "must be a list of label names"
        group_by = []
    result["group_by"] = group_by
    divide_by = spec.get("divide_by")
    if divide_by is not None:
        if not isinstance(divide_by, dict):
            errors["divide_by"] = "must be null or {name, labels, agg}"
        else:
            inner: dict[str, str] = {}
            result["divide_by"] = _metric(divide_by, inner)
            errors.update({f"divide_by.{k}": v for k, v in inner.items()})
    else:
        result["divide_by"] = None
    return result


def _span(spec: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    measure = spec.get("measure", "error_ratio")
    if measure not in SPAN_MEASURES:
        errors["measure"] = f"must be one of {', '.join(SPAN_MEASURES)}"
    group_by = spec.get("group_by") or None
    if group_by not in (None, "service", "name"):
        errors["group_by"] = "must be null, 'service' or 'name'"
    return {
        "measure": measure,
        "service": _text(spec, "service", errors),
        "name": _text(spec, "name", errors),
        "group_by": group_by,
    }


def _absence(spec: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    source = spec.get("source", "logs")
    if source not in ABSENCE_SOURCES:
        errors["source"] = f"must be one of {', '.join(ABSENCE_SOURCES)}"
    group_by = spec.get("group_by") or None
    if group_by not in (None, "service") or (group_by and source == "metrics"):
        errors["group_by"] = "must be null, or 'service' for logs, spans and any"
    try:
        lookback = parse_duration(spec.get("lookback", "24h"))
        if not 60 <= lookback <= MAX_LOOKBACK_SECONDS:
            raise ValueError("must be from 1m to 7d")
    except ValueError as exc:
        errors["lookback"] = str(exc)
        lookback = 86400
    result: dict[str, Any] = {"source": source, "group_by": group_by, "lookback": lookback}
    if source == "logs":
        result["query"] = _query(spec, "query", errors)
    elif source in ("spans", "any"):
        result["service"] = _text(spec, "service", errors)
    else:
        result["name"] = _text(spec, "name", errors, required=True)
        result["labels"] = _labels(spec, errors)
    return result


def _new_pattern(spec: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    mode = spec.get("mode", "new")
    if mode not in PATTERN_MODES:
        errors["mode"] = f"must be one of {', '.join(PATTERN_MODES)}"
    try:
        baseline = parse_duration(spec.get("baseline", "7d"))
        if not 3600 <= baseline <= MAX_LOOKBACK_SECONDS:
            raise ValueError("must be from 1h to 7d")
    except ValueError as exc:
        errors["baseline"] = str(exc)
        baseline = MAX_LOOKBACK_SECONDS
    query = _query(spec, "query", errors) if "query" in spec else "level>=warn"
    return {"mode": mode, "query": query or "level>=warn", "baseline": baseline}


def _heartbeat(spec: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    value = spec.get("heartbeat")
    if not isinstance(value, str) or not value:
        errors["heartbeat"] = "is required"
    return {"heartbeat": value}


VALIDATORS = {
    "log_count": _log_count,
    "log_ratio": _log_ratio,
    "metric": _metric_spec,
    "span": _span,
    "absence": _absence,
    "heartbeat": _heartbeat,
    "new_pattern": _new_pattern,
    **error_kinds.VALIDATORS,  # new_issue, issue_regression, issue_unignored, issue_events
}


def validate_spec(kind: str, spec: Any) -> dict[str, Any]:
    """The normalised spec of `kind`, or SpecError naming each bad field."""
    if kind not in VALIDATORS:
        raise SpecError({"kind": f"must be one of {', '.join(VALIDATORS)}"})
    errors: dict[str, str] = {}
    result = VALIDATORS[kind](_object(spec), errors)
    if errors:
        raise SpecError(errors)
    return result
