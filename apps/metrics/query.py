"""The metric query language of GET /api/v1/projects/{id}/metrics/query: parameters, the choice of
source (raw points, 1m or 1h rollups) and the percentile estimate from merged histogram buckets.

Parameters (all but `name` optional):
  name        metric name (exact)
  agg         avg (default) | sum | min | max | count | rate | p50 | p90 | p95 | p99
  start, end  RFC 3339 (`2026-11-22T10:00:00Z`), Unix seconds, `now`, or relative to now (`-15m`,
              `-24h`, `-30d`); default: the last hour
  step        seconds (`60`) or a duration (`30s`, `5m`, `1h`, `1d`); default: about 300 points
  group_by    label names, comma-separated or repeated (at most MAX_GROUP_BY); default: one series
  label.<k>   label filter, exact match; repeat it for "any of" (`label.route=/pay&label.route=/cart`);
              at most MAX_LABEL_FILTERS labels and MAX_LABEL_VALUES values
Names (metric, label) are 1 to MAX_NAME_LENGTH characters and label values at most
MAX_LABEL_VALUE_LENGTH, as ingestion stores them; none may contain NUL.

Source: a step of an hour or more is served from 1h rollups (step rounded up to whole hours), a
step of a minute or more from 1m rollups (whole minutes), shorter steps from raw points. A series
may have at most MAX_POINTS steps, so short steps only ever cover a short range: a 30-day chart
never reads raw points. At 1h resolution the open hour is read from 1m rollups, and the minutes
after the rollup watermark are read from raw points and merged in, so charts are live.

Meaning of agg per metric kind, per step (and group):
  gauge      avg/min/max/count of the samples; sum = sum over series of each series' average
  counter    rate = increase per second (resets handled); sum = increase; avg/min/max/count of
             the stored values
  histogram  p50..p99 from the merged bucket counts, interpolated within the bucket as Prometheus'
             histogram_quantile does and clamped to the observed min/max; avg = sum / count of
             observations; count; rate = observations per second; sum, min, max of observations

Answer: {"name", "kind", "agg", "start", "end", "step" (seconds), "resolution" (raw | 1m | 1h),
"series": [{"labels": {<group_by label>: value}, "points": [[unix seconds, value or null], ...]}]};
steps without data are left out; a metric without series is an empty list, not a 404.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.http import QueryDict

from apps.api.errors import BadParameter, InvalidInput
from apps.api.timerange import parse_text, parse_time
from apps.metrics.rollups import EPOCH, HOUR, MINUTE, floor_to

AGGS = ("avg", "sum", "min", "max", "count", "rate", "p50", "p90", "p95", "p99")
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
MAX_POINTS = 11_000  # per series, as Prometheus: keeps a response (and a raw scan) bounded
MAX_RANGE = timedelta(days=400)  # the 1h rollups' retention
DEFAULT_RANGE = timedelta(hours=1)
NICE_STEPS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
TARGET_POINTS = 300
KNOWN_PARAMS = {"name", "agg", "start", "end", "step", "group_by"}
LABEL_PREFIX = "label."
MAX_STEP = MAX_RANGE
MAX_NAME_LENGTH = 255  # as apps.ingestion.native accepts metric names
MAX_LABEL_VALUE_LENGTH = 16 * 1024  # INGEST_MAX_VALUE_BYTES' default: no stored value is longer
MAX_GROUP_BY = 10
MAX_LABEL_FILTERS = 20
MAX_LABEL_VALUES = 100
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Nine digits bound the number before timedelta sees it (10**9 weeks would overflow it).
_DURATION = re.compile(r"^(\d{1,9})([smhdw]?)$")


@dataclass(frozen=True)
class MetricQuery:
    name: str
    agg: str
    start: datetime  # aligned down to a multiple of `step` since the epoch
    end: datetime
    step: timedelta
    resolution: str  # raw | 1m | 1h
    group_by: tuple[str, ...] = ()
    label_filters: dict[str, list[str]] = field(default_factory=dict)


def parse_query(params: QueryDict, now: datetime) -> MetricQuery:
    """Validate the query string; every problem is a 400 naming the parameter."""
    errors: dict[str, str] = {}
    unknown = sorted(k for k in params if k not in KNOWN_PARAMS and not k.startswith(LABEL_PREFIX))
    if unknown:
        errors["params"] = (
            f"unknown parameter(s): {', '.join(unknown)}; filter labels with label.<name>=<value>"
        )
    name = _text("name", params.get("name", ""), MAX_NAME_LENGTH, errors).strip()
    if not name and "name" not in errors:
        errors["name"] = "name is required (the metric name)"
    agg = params.get("agg", "avg")
    if agg not in AGGS:
        errors["agg"] = f"agg must be one of {', '.join(AGGS)}"
    start, end = _time_range(params, now, errors)
    step = _step(params.get("step"), start, end, errors)
    group_by = _group_by(params, errors)
    label_filters = _label_filters(params, errors)
    if errors:
        raise InvalidInput(errors)
    resolution, step = resolution_for(step)
    return MetricQuery(
        name=name,
        agg=agg,
        start=floor_to(start, step),
        end=end,
        step=step,
        resolution=resolution,
        group_by=group_by,
        label_filters=label_filters,
    )


def _text(name: str, value: str, max_length: int, errors: dict[str, str]) -> str:
    try:
        return parse_text(name, value, max_length)
    except BadParameter as bad:
        errors[name] = str(bad)
        return ""


def resolution_for(step: timedelta) -> tuple[str, timedelta]:
    """The coarsest source whose buckets fit the step; the step becomes a multiple of them."""
    for resolution, width in (("1h", HOUR), ("1m", MINUTE)):
        if step >= width:
            return resolution, -(-step // width) * width
    return "raw", step


def parse_duration(value: str) -> timedelta:
    match = _DURATION.match(value.strip())
    if not match:
        raise ValueError(value)
    try:
        return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2) or "s"])
    except OverflowError:
        raise ValueError(value) from None


def _time_range(params: QueryDict, now: datetime, errors: dict[str, str]) -> tuple[datetime, datetime]:
    moments = {}
    for key, default in (("end", now), ("start", None)):
        raw = params.get(key)
        try:
            moments[key] = parse_time(key, raw, now) if raw else default
        except BadParameter as bad:
            errors[key] = str(bad)
            moments[key] = now
    end = moments["end"] or now
    start = moments["start"] or end - DEFAULT_RANGE
    if start >= end and not errors.keys() & {"start", "end"}:
        errors["start"] = "start must be before end"
    elif end - start > MAX_RANGE:
        errors["start"] = f"the range may span at most {MAX_RANGE.days} days"
    return start, end


def _step(raw: str | None, start: datetime, end: datetime, errors: dict[str, str]) -> timedelta:
    span = max(end - start, timedelta(seconds=1))
    if not raw:
        wanted = span.total_seconds() / TARGET_POINTS
        return timedelta(seconds=next((s for s in NICE_STEPS if s >= wanted), NICE_STEPS[-1]))
    try:
        step = parse_duration(raw)
    except ValueError:
        errors["step"] = (
            f"step must be seconds (60) or a duration like 30s, 5m, 1h, 1d, from 1s to {MAX_STEP.days}d"
        )
        return MINUTE
    if not timedelta(0) < step <= MAX_STEP:
        errors["step"] = f"step must be positive: from 1s to {MAX_STEP.days}d"
    elif span / resolution_for(step)[1] > MAX_POINTS:
        shortest = math.ceil(span.total_seconds() / MAX_POINTS)
        errors["step"] = f"at most {MAX_POINTS} points per series: use a step of {shortest}s or more"
    return step


def _group_by(params: QueryDict, errors: dict[str, str]) -> tuple[str, ...]:
    names = [n.strip() for value in params.getlist("group_by") for n in value.split(",")]
    unique = tuple(dict.fromkeys(n for n in names if n))
    if len(unique) > MAX_GROUP_BY:
        errors["group_by"] = f"group_by takes at most {MAX_GROUP_BY} label names"
    for label in unique:
        _text("group_by", label, MAX_NAME_LENGTH, errors)
    return unique


def _label_filters(params: QueryDict, errors: dict[str, str]) -> dict[str, list[str]]:
    filters = {
        key[len(LABEL_PREFIX) :]: params.getlist(key)
        for key in sorted(params)
        if key.startswith(LABEL_PREFIX) and len(key) > len(LABEL_PREFIX)
    }
    if len(filters) > MAX_LABEL_FILTERS:
        errors["label"] = f"at most {MAX_LABEL_FILTERS} label.<name> filters"
    for label, values in filters.items():
        if not _text("label name", label, MAX_NAME_LENGTH, errors):
            continue
        key = LABEL_PREFIX + label
        if len(values) > MAX_LABEL_VALUES:
            errors[key] = f"{key} takes at most {MAX_LABEL_VALUES} values"
        for value in values:
            _text(key, value, MAX_LABEL_VALUE_LENGTH, errors)
    return filters


def bucket_quantile(
    q: float, bounds: list[float], counts: list[int], low: float | None = None, high: float | None = None
) -> float | None:
    """Prometheus' histogram_quantile: find the bucket holding rank q * total and interpolate
    linearly inside it. The lowest bucket starts at 0 (or at `low`, the observed minimum); the
    overflow bucket ends at `high`, the observed maximum, or else answers the highest bound."""
    total = sum(counts)
    if total <= 0 or not bounds or len(counts) != len(bounds) + 1:
        return None
    rank, below = q * total, 0
    for index, count in enumerate(counts):
        if count > 0 and below + count >= rank:
            lower = bounds[index - 1] if index > 0 else (low if low is not None else min(0.0, bounds[0]))
            upper = bounds[index] if index < len(bounds) else high
            if upper is None:
                return bounds[-1]
            estimate = lower + (upper - lower) * (rank - below) / count
            return _clamp(estimate, low, high)
        below += count
    return None


def _clamp(value: float, low: float | None, high: float | None) -> float:
    if low is not None and math.isfinite(low):
        value = max(value, low)
    if high is not None and math.isfinite(high):
        value = min(value, high)
    return value


def epoch_seconds(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds())
