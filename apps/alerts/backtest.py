"""The preview of a policy: its query evaluated over a past range (up to 7 days) and the state
machine run on the result, so an author sees the values, the threshold and when it would have
fired before saving.

Evaluations are spaced `step` apart: the policy's interval when that gives at most MAX_STEPS
points, else a multiple of it. `for` and `keep_firing_for` are therefore as exact as the step
(a 7-day preview of a 60 s policy steps 40 minutes). Nothing is written.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from apps.alerts.evaluation import InstanceState, step
from apps.alerts.evaluators import Labels, measure
from apps.alerts.models import Policy, State
from apps.alerts.scheduler import rules_of

MAX_RANGE = timedelta(days=7)
MAX_STEPS = 200


def step_for(policy: Policy, start: datetime, end: datetime) -> timedelta:
    interval = policy.interval_seconds
    multiple = max(1, math.ceil((end - start).total_seconds() / interval / MAX_STEPS))
    return timedelta(seconds=interval * multiple)


def backtest(policy: Policy, start: datetime, end: datetime) -> dict[str, Any]:
    """Values per group at each step, and the transitions the policy would have made."""
    rules = rules_of(policy)
    spacing = step_for(policy, start, end)
    known: dict[str, Labels] = {}
    states: dict[str, InstanceState] = {}
    series: dict[str, dict[str, Any]] = {}
    transitions: list[dict[str, Any]] = []
    moment = start + spacing
    while moment <= end:
        samples = measure(policy, moment, known)
        for key, (labels, sample) in samples.items():
            known.setdefault(key, labels)
            entry = series.setdefault(key, {"labels": labels, "points": [], "firing": []})
            entry["points"].append([int(moment.timestamp()), sample.value])
            outcome = step(rules, states.get(key, InstanceState()), sample, moment)
            states[key] = outcome.state
            for change in outcome.changes:
                transitions.append(
                    {
                        "at": moment,
                        "labels": labels,
                        "from": change.from_state,
                        "to": change.to_state,
                        "value": change.value,
                    }
                )
                if change.to_state == State.FIRING:
                    entry["firing"].append([int(moment.timestamp()), None])
                elif change.from_state == State.FIRING and entry["firing"]:
                    entry["firing"][-1][1] = int(moment.timestamp())
        moment += spacing
    return {
        "start": start,
        "end": end,
        "step": int(spacing.total_seconds()),
        "op": policy.op,
        "threshold": policy.threshold,
        "resolve_threshold": policy.resolve_threshold,
        "series": list(series.values()),
        "transitions": transitions,
        "would_fire": sum(1 for t in transitions if t["to"] == State.FIRING),
    }
