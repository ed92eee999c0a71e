"""What each policy kind measures: one Sample per group, read through the telemetry apps'
selectors (apps.logs/metrics/traces.selectors) — never their tables.

Groups that an earlier evaluation knew (`known`) and that this one did not see are completed
here: for counts that means 0 (no error logs is zero errors, not "no data"); for averages,
ratios and percentiles it means no data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim

from apps.alerts import error_kinds
from apps.alerts.evaluation import Sample
from apps.alerts.models import Heartbeat, PingKind, Policy, ScheduleKind
from apps.alerts.reads import Reads, Recorder
from apps.logs.query import Equals, parse
from apps.traces.selectors import SPAN_PERCENTILES

Labels = dict[str, Any]
Samples = dict[str, tuple[Labels, Sample]]


def labels_key(labels: Labels) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def _group_labels(group_by: str | None, key: str) -> Labels:
    return {group_by: key} if group_by else {}


def _complete(samples: Samples, known: dict[str, Labels], missing: Sample) -> Samples:
    for key, labels in known.items():
        samples.setdefault(key, (labels, missing))
    return samples


def _log_count(
    policy: Policy, start: datetime, now: datetime, known: dict[str, Labels], reads: Reads
) -> Samples:
    spec = policy.spec
    counts = reads.log_counts(
        policy.project_id, parse(spec.get("query", "")), start, now, spec.get("group_by")
    )
    samples: Samples = {}
    for key, count in counts.items():
        labels = _group_labels(spec.get("group_by"), key)
        samples[labels_key(labels)] = (labels, Sample(float(count)))
    if not spec.get("group_by"):
        samples.setdefault(labels_key({}), ({}, Sample(0.0)))
    return _complete(samples, known, Sample(0.0))


def _log_ratio(
    policy: Policy, start: datetime, now: datetime, known: dict[str, Labels], reads: Reads
) -> Samples:
    spec, group_by = policy.spec, policy.spec.get("group_by")
    matching = reads.log_counts(policy.project_id, parse(spec["query"]), start, now, group_by)
    totals = reads.log_counts(policy.project_id, parse(spec.get("total_query", "")), start, now, group_by)
    samples: Samples = {}
    for key, total in totals.items():
        labels = _group_labels(group_by, key)
        value = 100.0 * matching.get(key, 0) / total if total else None
        samples[labels_key(labels)] = (labels, Sample(value))
    if not group_by:
        samples.setdefault(labels_key({}), ({}, Sample(None)))
    return _complete(samples, known, Sample(None))


def _metric_values(
    policy: Policy, part: dict[str, Any], start: datetime, now: datetime, reads: Reads
) -> dict[str, Any]:
    group_by = tuple(policy.spec.get("group_by") or ())
    values = reads.metric_window_values(
        policy.project_id,
        part["name"],
        part.get("labels") or {},
        part.get("agg", "avg"),
        start,
        now,
        group_by,
    )
    return {labels_key(v.labels): (v.labels, v.value) for v in values}


def _metric(
    policy: Policy, start: datetime, now: datetime, known: dict[str, Labels], reads: Reads
) -> Samples:
    spec = policy.spec
    values = _metric_values(policy, spec, start, now, reads)
    divisors = _metric_values(policy, spec["divide_by"], start, now, reads) if spec.get("divide_by") else None
    samples: Samples = {}
    for key, (labels, value) in values.items():
        if divisors is not None:
            divisor = divisors.get(key, (labels, None))[1]
            value = value / divisor if value is not None and divisor else None
        samples[key] = (labels, Sample(value))
    if not spec.get("group_by"):
        samples.setdefault(labels_key({}), ({}, Sample(None)))
    return _complete(samples, known, Sample(None))


def _span(policy: Policy, start: datetime, now: datetime, known: dict[str, Labels], reads: Reads) -> Samples:
    spec = policy.spec
    measure, group_by = spec["measure"], spec.get("group_by")
    percentile = measure if measure in SPAN_PERCENTILES else None
    stats = reads.span_window_stats(
        policy.project_id, start, now, spec.get("service", ""), spec.get("name", ""), percentile, group_by
    )
    samples: Samples = {}
    for key, window in stats.items():
        labels = _group_labels(group_by, key)
        if measure == "count":
            value: float | None = float(window.count)
        elif measure == "error_ratio":
            value = 100.0 * window.errors / window.count if window.count else None
        else:
            value = window.duration_ms
        samples[labels_key(labels)] = (labels, Sample(value))
    missing = Sample(0.0) if measure == "count" else Sample(None)
    if not group_by:
        samples.setdefault(labels_key({}), ({}, missing))
    return _complete(samples, known, missing)


def _absence(
    policy: Policy, start: datetime, now: datetime, known: dict[str, Labels], reads: Reads
) -> Samples:
    """Items in the window; with group_by service, every service seen within the lookback counts
    (0 when silent), so a service that stops sending is an instance with value 0, not no data."""
    spec, project_id = policy.spec, policy.project_id
    group_by = spec.get("group_by")
    since = now - timedelta(seconds=int(spec.get("lookback", 86400)))
    counts: dict[str, float] = {}
    seen: list[str] = []
    source = spec["source"]
    if source in ("logs", "any"):
        query = parse(spec.get("query", "")) if source == "logs" else None
        if source == "any" and spec.get("service"):
            query = Equals("service", spec["service"])
        for key, count in reads.log_counts(project_id, query, start, now, group_by).items():
            counts[key] = counts.get(key, 0.0) + count
        seen += reads.log_services_seen(project_id, since) if group_by else []
    if source in ("spans", "any"):
        stats = reads.span_window_stats(project_id, start, now, spec.get("service", ""), group_by=group_by)
        for key, window in stats.items():
            counts[key] = counts.get(key, 0.0) + window.count
        seen += reads.span_services_seen(project_id, since) if group_by else []
    if source == "metrics":
        values = reads.metric_window_values(
            project_id, spec["name"], spec.get("labels") or {}, "count", start, now
        )
        counts = {"": sum(v.value or 0.0 for v in values)}
    samples: Samples = {}
    for key in {*counts, *seen} if group_by else {""}:
        labels = _group_labels(group_by, key)
        samples[labels_key(labels)] = (labels, Sample(counts.get(key, 0.0)))
    return _complete(samples, known, Sample(0.0))


def heartbeat_is_down(heartbeat: Heartbeat, now: datetime) -> bool:
    """Healthchecks' rules: a `fail` ping is down at once; a started run that has not reported
    within the grace time is down; otherwise down once the next expected ping (last ping + period,
    or the cron schedule's next time after the last ping, in the monitor's time zone) is more than
    the grace time late. A monitor never pinged is new, not down. A started run has the grace time,
    or its `max_runtime` when set (Sentry cron monitors send one)."""
    grace = timedelta(seconds=heartbeat.grace_seconds)
    if heartbeat.last_ping_kind == PingKind.FAIL:
        return True
    last = heartbeat.last_ping_at
    started = heartbeat.last_start_at
    runtime = timedelta(seconds=heartbeat.max_runtime_seconds) if heartbeat.max_runtime_seconds else grace
    if started is not None and (last is None or started > last) and now > started + runtime:
        return True
    if last is None:
        return False
    return now > next_expected_ping(heartbeat, last) + grace


def next_expected_ping(heartbeat: Heartbeat, after: datetime) -> datetime:
    if heartbeat.schedule_kind == ScheduleKind.CRON:
        # cronsim walks local wall-clock time: a 02:30 job on a spring-forward night is due at
        # 03:00 local, and a fall-back night runs it once (as cron does).
        local = after.astimezone(ZoneInfo(heartbeat.tz))
        return next(CronSim(heartbeat.cron, local))
    return after + timedelta(seconds=heartbeat.period_seconds)


def _heartbeat(
    policy: Policy, start: datetime, now: datetime, known: dict[str, Labels], reads: Reads
) -> Samples:
    heartbeat = policy.heartbeat  # loaded with the batch's policies (scheduler.claims_evaluate)
    return {labels_key({}): ({}, Sample(1.0 if heartbeat_is_down(heartbeat, now) else 0.0))}


PATTERN_LABEL_LENGTH = 300  # the labels_key column holds the labels as JSON


def _new_pattern(
    policy: Policy, start: datetime, now: datetime, known: dict[str, Labels], reads: Reads
) -> Samples:
    spec, project_id = policy.spec, policy.project_id
    query = parse(spec.get("query", "level>=warn"))
    recent = reads.log_pattern_counts(project_id, query, start, now)
    baseline_start = start - timedelta(seconds=int(spec.get("baseline", 7 * 86400)))
    before = (
        reads.log_pattern_counts(project_id, query, baseline_start, start, only=list(recent))
        if recent
        else {}
    )
    window_minutes = max((now - start).total_seconds() / 60, 1.0)
    baseline_minutes = max((start - baseline_start).total_seconds() / 60, 1.0)
    samples: Samples = {}
    for fingerprint, (count, _) in recent.items():
        labels = {"pattern": fingerprint[:PATTERN_LABEL_LENGTH]}
        usual = before.get(fingerprint, (0, ""))[0]
        if spec.get("mode") == "spike":
            value = (count / window_minutes) / (max(usual, 1) / baseline_minutes)
        else:
            value = 0.0 if usual else float(count)
        samples[labels_key(labels)] = (labels, Sample(value))
    return _complete(samples, known, Sample(0.0))


EVALUATORS: dict[str, Callable[[Policy, datetime, datetime, dict[str, Labels], Reads], Samples]] = {
    "log_count": _log_count,
    "log_ratio": _log_ratio,
    "metric": _metric,
    "span": _span,
    "absence": _absence,
    "heartbeat": _heartbeat,
    "new_pattern": _new_pattern,
    **error_kinds.EVALUATORS,  # new_issue, issue_regression, issue_unignored, issue_events
}


def measure(policy: Policy, now: datetime, known: dict[str, Labels], reads: Reads | None = None) -> Samples:
    """The samples of one evaluation at `now` over the policy's window. A failing read (a query
    the database refuses, an agg the metric's kind lacks) is an error sample for every known
    group, not an exception: the policy's on_error mode decides what it means."""
    start = now - timedelta(seconds=policy.window_seconds)
    try:
        return EVALUATORS[policy.kind](policy, start, now, known, reads or Reads())
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        groups = known or {labels_key({}): {}}
        return {key: (labels, Sample(None, error=error)) for key, labels in groups.items()}


def measure_batch(
    policies: list[Policy], now: datetime, known: dict[int, dict[str, Labels]]
) -> dict[int, Samples]:
    """measure() of each policy, with the batch's log and span reads grouped into a few
    statements (see apps.alerts.reads): policy id -> samples, the same as measured alone."""
    recorder = Recorder()
    for policy in policies:
        measure(policy, now, known[policy.pk], recorder)  # notes the reads; answers are empty
    reads = recorder.prefetch()
    return {policy.pk: measure(policy, now, known[policy.pk], reads) for policy in policies}
