"""new_pattern: a warning/error message pattern seen for the first time, or far above its usual rate."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from tests.alerts.conftest import BASE, evaluate, log, make_policy
from tests.telemetry import ingest_logs as ingest

pytestmark = pytest.mark.django_db

NOW = BASE


def test_a_pattern_never_seen_in_the_baseline_fires_once_per_pattern(org_a):
    policy = make_policy(org_a.project, "new_pattern", {"mode": "new", "baseline": "1d"}, threshold=0)
    with time_machine.travel(NOW, tick=False):
        ingest(
            org_a.ingest_key,
            [
                log(120, NOW, "payment 41 declined", level="warn"),  # known for two hours
                log(2, NOW, "payment 97 declined", level="warn"),  # same pattern, recent
                log(1, NOW, 'disk "/var" full', level="error"),  # never seen before
                log(1, NOW, 'disk "/data" full', level="error"),
                log(1, NOW, "user 7 logged in", level="info"),  # not a warning
            ],
        )
        assert evaluate(policy, NOW) == [("normal", "firing", 2.0, {"pattern": 'disk "<str>" full'})]


def test_a_spike_is_the_rate_over_the_baseline_rate(org_a):
    policy = make_policy(
        org_a.project, "new_pattern", {"mode": "spike", "baseline": "1h"}, threshold=5, window_seconds=300
    )
    with time_machine.travel(NOW, tick=False):
        # Usual: 6 an hour (the hour before the window). Now: 10 in 5 minutes = 20x the usual rate.
        usual = [log(10 + 10 * i, NOW, f"timeout after {i} ms", level="warn") for i in range(6)]
        burst = [log(0.2 * i + 0.1, NOW, f"timeout after {i} ms", level="warn") for i in range(10)]
        ingest(org_a.ingest_key, usual + burst)
        ((from_state, to_state, value, labels),) = evaluate(policy, NOW)
    assert (from_state, to_state, labels) == ("normal", "firing", {"pattern": "timeout after <num> ms"})
    assert value == pytest.approx((10 / 5) / (6 / 60))
    later = NOW + timedelta(minutes=10)
    with time_machine.travel(later, tick=False):
        assert evaluate(policy, later) == [("firing", "resolved", 0.0, {"pattern": "timeout after <num> ms"})]
