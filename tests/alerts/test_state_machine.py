"""The instance state machine, rule by rule (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apps.alerts.evaluation import InstanceState, Rules, Sample, step
from apps.alerts.models import MissingMode

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run(rules: Rules, values: list[float | str | None], every: int = 60) -> list[tuple[int, str, str, bool]]:
    """Evaluate `values` at T0, T0+every, ...; a string is an error. Returns the transitions as
    (evaluation index, from, to, notify)."""
    state = InstanceState()
    seen = []
    for index, value in enumerate(values):
        sample = Sample(None, error=value) if isinstance(value, str) else Sample(value)
        outcome = step(rules, state, sample, T0 + timedelta(seconds=every * index))
        state = outcome.state
        seen += [(index, c.from_state, c.to_state, c.notify) for c in outcome.changes]
    return seen


def test_a_breach_without_for_fires_at_once_and_resolves_when_it_ends():
    assert run(Rules(">", 10), [5, 11, 12, 3, 4]) == [
        (1, "normal", "firing", True),
        (3, "firing", "resolved", True),
    ]


def test_for_keeps_the_instance_pending_until_the_breach_has_lasted_that_long():
    rules = Rules(">", 10, for_seconds=120)
    assert run(rules, [11, 11, 11, 11]) == [(0, "normal", "pending", True), (2, "pending", "firing", True)]


def test_a_breach_shorter_than_for_goes_back_to_normal_without_firing():
    rules = Rules(">", 10, for_seconds=180)
    assert run(rules, [11, 11, 5, 11]) == [
        (0, "normal", "pending", True),
        (2, "pending", "normal", True),
        (3, "normal", "pending", True),
    ]


def test_keep_firing_for_bridges_a_short_dip():
    rules = Rules(">", 10, keep_firing_for_seconds=120)
    # Breach at 0; quiet at 1 and 2 (within 120 s of the last breach); quiet at 3 resolves.
    assert run(rules, [11, 5, 5, 5]) == [(0, "normal", "firing", True), (3, "firing", "resolved", True)]
    assert run(rules, [11, 5, 11, 5, 5]) == [(0, "normal", "firing", True)]


def test_resolve_threshold_adds_hysteresis():
    rules = Rules(">", 90, resolve_threshold=80)
    assert run(rules, [95, 85, 85, 79]) == [(0, "normal", "firing", True), (3, "firing", "resolved", True)]


def test_a_resolved_instance_fires_again_on_the_next_breach():
    assert run(Rules(">", 10), [11, 1, 11]) == [
        (0, "normal", "firing", True),
        (1, "firing", "resolved", True),
        (2, "resolved", "firing", True),
    ]


def test_no_data_keeps_the_last_state_by_default():
    assert run(Rules(">", 10), [11, None, None, 1]) == [
        (0, "normal", "firing", True),
        (3, "firing", "resolved", True),
    ]


def test_no_data_can_mean_firing_or_normal():
    assert run(Rules(">", 10, no_data=MissingMode.FIRING), [1, None]) == [(1, "normal", "firing", True)]
    assert run(Rules(">", 10, no_data=MissingMode.NORMAL), [11, None]) == [
        (0, "normal", "firing", True),
        (1, "firing", "resolved", True),
    ]


def test_errors_follow_their_own_mode_and_show_in_health():
    rules = Rules(">", 10, on_error=MissingMode.FIRING)
    assert run(rules, [1, "boom"]) == [(1, "normal", "firing", True)]
    outcome = step(rules, InstanceState(), Sample(None, error="boom"), T0)
    assert outcome.state.health == "error"
    assert step(Rules(">", 10), InstanceState(), Sample(None), T0).state.health == "no_data"


def test_no_data_does_not_advance_for():
    rules = Rules(">", 10, for_seconds=120)
    assert run(rules, [11, None, None, 11]) == [
        (0, "normal", "pending", True),
        (3, "pending", "firing", True),
    ]


def test_flapping_holds_back_notifications_until_stable_then_catches_up():
    rules = Rules(">", 10, flap_stable_seconds=300)
    # Changes at 0,1,2 notify; the 4th change (index 3) within 20 evaluations makes it flap.
    values: list[float | str | None] = [11, 1, 11, 1, 11, 1, 11]
    # Then it stays firing: stable for 300 s at index 6 + 5 = 11.
    values += [11] * 6
    seen = run(rules, values)
    assert seen[:3] == [
        (0, "normal", "firing", True),
        (1, "firing", "resolved", True),
        (2, "resolved", "firing", True),
    ]
    assert [(i, f, t, n) for i, f, t, n in seen[3:7]] == [
        (3, "firing", "resolved", False),
        (4, "resolved", "firing", False),
        (5, "firing", "resolved", False),
        (6, "resolved", "firing", False),
    ]
    # Settled firing, but the last announced state was firing too: nothing to catch up on.
    assert seen[7:] == []


def test_a_flapping_instance_that_settles_elsewhere_announces_once():
    rules = Rules(">", 10, flap_stable_seconds=300)
    values: list[float | str | None] = [11, 1, 11, 1, 11, 1] + [1] * 6
    seen = run(rules, values)
    assert seen[-1] == (10, "firing", "resolved", True)
    assert [n for *_, n in seen].count(True) == 4


def test_fewer_than_four_changes_in_twenty_evaluations_is_not_flapping():
    rules = Rules(">", 10)
    values: list[float | str | None] = [11, 1] + [1] * 18 + [11, 1]
    assert all(notify for *_, notify in run(rules, values))
