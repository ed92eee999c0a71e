"""The state machine of one alert instance: pure (no database), so every rule is tested directly.

    normal/resolved --breach--> pending --breach for `for`--> firing --quiet--> resolved
                    (`for` = 0: straight to firing)   \\--quiet--> normal

Rules, after Prometheus/Alertmanager where they have one:
* `for`: a breach must hold at evaluations spanning `for` before firing (Prometheus' pending).
* `keep_firing_for`: a firing instance stays firing that long after its first quiet evaluation, so a value
  dipping for one evaluation does not resolve and re-open the incident (Prometheus 2.42).
* Hysteresis: once firing, the breach test uses `resolve_threshold` when set (fire above 90 %,
  resolve only below 80 %).
* No data / error: per policy, counts as a breach (`firing`), as quiet (`normal`), or changes
  nothing (`keep_last`: the state stays, `for` does not advance); the instance's health says which.
* Flapping (Nagios' idea, simplified): an instance whose state changed at ≥ FLAP_CHANGES of its
  last FLAP_WINDOW evaluations is flapping. Its transitions are still recorded (the history is
  true) but with notify=False; once it has not changed for the policy's `flap_stable_seconds` it
  stops flapping, and if it settled in another state than the last one announced, one
  catching-up transition with notify=True says so.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from apps.alerts.models import Health, MissingMode, State

FLAP_WINDOW = 20
FLAP_CHANGES = 4

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
QUIET_STATES = (State.NORMAL, State.RESOLVED)


@dataclass(frozen=True)
class Rules:
    """The parts of a policy the state machine needs."""

    op: str
    threshold: float
    resolve_threshold: float | None = None
    for_seconds: int = 0
    keep_firing_for_seconds: int = 0
    no_data: str = MissingMode.KEEP_LAST
    on_error: str = MissingMode.KEEP_LAST
    flap_stable_seconds: int = 600


@dataclass(frozen=True)
class Sample:
    """One group's outcome of an evaluation: a value, no data (value None), or an error."""

    value: float | None
    error: str = ""


@dataclass(frozen=True)
class InstanceState:
    state: str = State.NORMAL
    health: str = Health.OK
    since: datetime | None = None
    pending_since: datetime | None = None
    last_breach_at: datetime | None = None
    quiet_since: datetime | None = None  # first quiet evaluation while firing (keep_firing_for)
    last_value: float | None = None
    recent_changes: tuple[int, ...] = ()
    is_flapping: bool = False
    last_change_at: datetime | None = None
    notified_state: str = State.NORMAL


@dataclass(frozen=True)
class Change:
    """A transition to record."""

    from_state: str
    to_state: str
    value: float | None
    threshold: float
    notify: bool
    is_flapping: bool
    health: str


@dataclass(frozen=True)
class Step:
    state: InstanceState
    changes: list[Change] = field(default_factory=list)


def is_breach(rules: Rules, value: float, firing: bool) -> bool:
    threshold = rules.resolve_threshold if firing and rules.resolve_threshold is not None else rules.threshold
    return OPERATORS[rules.op](value, threshold)


def _breach_of(rules: Rules, current: InstanceState, sample: Sample) -> tuple[bool | None, str]:
    """(breach, health); breach None means: keep the last state."""
    if sample.error or sample.value is None:
        health = Health.ERROR if sample.error else Health.NO_DATA
        mode = rules.on_error if sample.error else rules.no_data
        meaning: dict[str, bool] = {MissingMode.FIRING: True, MissingMode.NORMAL: False}
        return meaning.get(mode), health
    return is_breach(rules, sample.value, current.state == State.FIRING), Health.OK


def _next_state(rules: Rules, current: InstanceState, breach: bool, now: datetime) -> str:
    state = current.state
    if breach:
        if state in QUIET_STATES:
            return State.FIRING if rules.for_seconds == 0 else State.PENDING
        if state == State.PENDING:
            held = now - (current.pending_since or now)
            return State.FIRING if held >= timedelta(seconds=rules.for_seconds) else State.PENDING
        return State.FIRING
    if state == State.PENDING:
        return State.NORMAL
    if state == State.FIRING:
        # As Prometheus: measured from the first evaluation that no longer breached.
        quiet_since = current.quiet_since or now
        if now - quiet_since < timedelta(seconds=rules.keep_firing_for_seconds):
            return State.FIRING
        return State.RESOLVED
    return state


def _quiet_since(
    current: InstanceState, new_state: str, breach: bool | None, now: datetime
) -> datetime | None:
    if breach is None:  # keep_last: no evaluation happened, as far as the state is concerned
        return current.quiet_since
    return (current.quiet_since or now) if new_state == State.FIRING and not breach else None


def step(rules: Rules, current: InstanceState, sample: Sample, now: datetime) -> Step:
    """The instance's state after one evaluation at `now`, and the transitions to record."""
    breach, health = _breach_of(rules, current, sample)
    new_state = current.state if breach is None else _next_state(rules, current, breach, now)
    changed = new_state != current.state
    recent = (*current.recent_changes, int(changed))[-FLAP_WINDOW:]
    was_flapping = current.is_flapping
    is_flapping = was_flapping or (changed and sum(recent) >= FLAP_CHANGES)
    last_change_at = now if changed else current.last_change_at
    settled = (
        is_flapping
        and not changed
        and last_change_at is not None
        and now - last_change_at >= timedelta(seconds=rules.flap_stable_seconds)
    )
    if settled:
        is_flapping, recent = False, ()
    value = sample.value
    threshold = rules.threshold
    if current.state == State.FIRING and rules.resolve_threshold is not None:
        threshold = rules.resolve_threshold
    changes: list[Change] = []
    notified_state = current.notified_state
    if changed:
        notify = not is_flapping
        changes.append(Change(current.state, new_state, value, threshold, notify, is_flapping, health))
        if notify:
            notified_state = new_state
    if settled and new_state != notified_state:
        changes.append(Change(notified_state, new_state, value, threshold, True, False, health))
        notified_state = new_state
    return Step(
        replace(
            current,
            state=new_state,
            health=health,
            since=now if changed or current.since is None else current.since,
            pending_since=(now if new_state == State.PENDING and changed else current.pending_since)
            if new_state == State.PENDING
            else None,
            last_breach_at=now if breach else current.last_breach_at,
            quiet_since=_quiet_since(current, new_state, breach, now),
            last_value=value if value is not None else current.last_value,
            recent_changes=recent,
            is_flapping=is_flapping,
            last_change_at=last_change_at,
            notified_state=notified_state,
        ),
        changes,
    )
