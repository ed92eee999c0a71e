"""Rollups: idempotent, exact under concurrent workers, late points re-rolled, counter resets."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import time_machine
from django.db import connection, connections

from apps.metrics.rollups import rollup_run
from tests.metrics.conftest import iso, otlp_counter, otlp_histogram, rollup_rows
from tests.telemetry import ingest_metrics, post_otlp_metrics

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def latency(seconds: float, counts: list[int], route: str = "/pay") -> dict:
    return {
        "name": "latency",
        "type": "histogram",
        "timestamp": iso(at(seconds)),
        "labels": {"route": route},
        "sum": float(sum(counts)),
        "buckets": {"bounds": [0.1, 0.5, 1.0], "counts": counts},
    }


def requests(seconds: float, value: float, route: str = "/pay") -> dict:
    return {
        "name": "requests",
        "type": "counter",
        "value": value,
        "timestamp": iso(at(seconds)),
        "labels": {"route": route},
    }


def fill_two_minutes(key: str) -> None:
    ingest_metrics(
        key,
        [requests(s, 1) for s in range(0, 120, 10)]
        + [latency(s, [1, 2, 3, 0]) for s in range(0, 120, 20)]
        + [{"name": "temp", "type": "gauge", "value": s, "timestamp": iso(at(s))} for s in range(0, 120, 30)],
    )


def totals(project_id: int, table: str = "metrics_rollup_1m") -> dict[int, tuple]:
    """series id -> (count, increase, merged bucket counts) over all buckets of the table."""
    result: dict[int, tuple] = {}
    for series_id, _, count, _, _, _, _, increase, _, buckets in rollup_rows(table, project_id):
        old_count, old_increase, old_buckets = result.get(series_id, (0, None, None))
        new_buckets = (
            buckets
            if old_buckets is None
            else [a + b for a, b in zip(old_buckets, buckets or [], strict=False)]
        )
        new_increase = increase if old_increase is None else old_increase + (increase or 0)
        result[series_id] = (old_count + count, new_increase, new_buckets)
    return result


def test_a_minute_bucket_holds_count_sum_min_max_last_and_merged_buckets(org_a):
    with time_machine.travel(at(180), tick=False):
        fill_two_minutes(org_a.ingest_key)
        result = rollup_run()
    assert not result.skipped and result.minute_rows == 6
    rows = {(r[0], r[1]): r[2:] for r in rollup_rows("metrics_rollup_1m", org_a.project.id)}
    by_values = sorted(rows.values(), key=repr)
    assert (6, 6.0, 1.0, 1.0, 1.0, 6.0, None, None) in by_values  # counter: 6 increments of 1 a minute
    assert (2, 30.0, 0.0, 30.0, 30.0, None, None, None) in by_values  # gauge 0, 30: last is 30
    assert (18, 18.0, None, None, None, None, [0.1, 0.5, 1.0], [3, 6, 9, 0]) in by_values  # 3 histograms


def test_the_hour_rollup_equals_the_sum_of_its_minutes_once_the_hour_is_complete(org_a):
    with time_machine.travel(at(180), tick=False):
        fill_two_minutes(org_a.ingest_key)
        rollup_run()
    assert rollup_rows("metrics_rollup_1h", org_a.project.id) == []  # the hour is still open
    rollup_run(now=at(3600))
    assert totals(org_a.project.id, "metrics_rollup_1h") == totals(org_a.project.id, "metrics_rollup_1m")
    assert len(rollup_rows("metrics_rollup_1h", org_a.project.id)) == 3


def test_running_the_rollup_twice_leaves_the_same_rows(org_a):
    with time_machine.travel(at(180), tick=False):
        fill_two_minutes(org_a.ingest_key)
        rollup_run()
        first = (
            rollup_rows("metrics_rollup_1m", org_a.project.id),
            rollup_rows("metrics_rollup_1h", org_a.project.id),
        )
        rollup_run()
    with time_machine.travel(at(240), tick=False):
        rollup_run()  # the next minute re-rolls the late window again
    second = (
        rollup_rows("metrics_rollup_1m", org_a.project.id),
        rollup_rows("metrics_rollup_1h", org_a.project.id),
    )
    assert first == second


def test_a_late_point_within_the_window_is_rolled_into_its_bucket(org_a, settings):
    settings.ROLLUP_LATE_WINDOW_SECONDS = 300
    with time_machine.travel(at(180), tick=False):
        ingest_metrics(org_a.ingest_key, [requests(10, 1)])
        rollup_run()
    with time_machine.travel(at(300), tick=False):
        ingest_metrics(org_a.ingest_key, [requests(20, 4)])  # 4m40s late: inside the window
        rollup_run()
    (row,) = rollup_rows("metrics_rollup_1m", org_a.project.id)
    assert (row[1], row[2], row[7]) == (T0, 2, 5.0)
    rollup_run(now=at(3600))
    assert rollup_rows("metrics_rollup_1h", org_a.project.id)[0][7] == 5.0


def test_a_point_later_than_the_window_stays_out_of_the_rollups(org_a, settings):
    settings.ROLLUP_LATE_WINDOW_SECONDS = 60
    rollup_run(now=at(0))  # the watermark starts at T0 - 60 s
    with time_machine.travel(at(120), tick=False):
        ingest_metrics(org_a.ingest_key, [requests(10, 1)])
        rollup_run()
    with time_machine.travel(at(600), tick=False):
        ingest_metrics(org_a.ingest_key, [requests(20, 4)])
        rollup_run()
    (row,) = rollup_rows("metrics_rollup_1m", org_a.project.id)
    assert row[7] == 1.0


@pytest.mark.django_db(transaction=True)
def test_a_run_that_finds_the_watermark_claimed_skips_and_the_next_one_catches_up(org_a, committed_metrics):
    with time_machine.travel(at(180), tick=False):
        rollup_run()  # creates the watermark row
        fill_two_minutes(org_a.ingest_key)
    # Another worker, on its own connection, holds the claim mid-run.
    dsn = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in dsn.items() if k != "cursor_factory"}) as other:
        other.execute("SELECT 1 FROM metrics_rollup_watermark FOR UPDATE")
        assert rollup_run(now=at(180)).skipped
        other.rollback()
    assert not rollup_run(now=at(180)).skipped
    assert len(rollup_rows("metrics_rollup_1m", org_a.project.id)) == 6


@pytest.mark.django_db(transaction=True)
def test_workers_rolling_up_at_once_never_double_count(org_a, committed_metrics):
    with time_machine.travel(at(180), tick=False):
        fill_two_minutes(org_a.ingest_key)
    barrier, results, errors = threading.Barrier(4), [], []

    def worker() -> None:
        try:
            barrier.wait()
            for offset in (180, 180, 240, 3600):
                results.append(rollup_run(now=at(offset)))
        except Exception as exc:  # surfaced below: a thread's exception would be lost
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert any(not r.skipped for r in results)
    counts = sorted(count for count, _, _ in totals(org_a.project.id).values())
    assert counts == [4, 12, 36]  # gauge samples, counter samples, histogram observations
    hourly = totals(org_a.project.id, "metrics_rollup_1h")
    assert sorted(increase for _, increase, _ in hourly.values() if increase is not None) == [12.0]
    assert [b for _, _, b in hourly.values() if b] == [[6, 12, 18, 0]]


def test_a_cumulative_counter_reset_counts_the_value_after_the_reset(org_a):
    start = at(-7200)
    with time_machine.travel(at(180), tick=False):
        # 100 -> 130 -> (process restart) 5 -> 25: increase 30 + 5 + 20 = 55, not 25 - 100.
        post_otlp_metrics(
            org_a.ingest_key,
            otlp_counter(
                "jobs", [(at(0), start, 100), (at(20), start, 130), (at(40), at(35), 5), (at(70), at(35), 25)]
            ),
        )
        rollup_run()
    rows = rollup_rows("metrics_rollup_1m", org_a.project.id)
    assert [(r[1], r[7]) for r in rows] == [(at(0), 35.0), (at(60), 20.0)]


def test_a_cumulative_counter_measures_the_first_minute_from_the_point_before_it(org_a):
    start = at(-7200)
    with time_machine.travel(at(60), tick=False):
        post_otlp_metrics(
            org_a.ingest_key, otlp_counter("jobs", [(at(-30), start, 1000), (at(10), start, 1010)])
        )
        rollup_run()
    with time_machine.travel(at(180), tick=False):
        post_otlp_metrics(
            org_a.ingest_key, otlp_counter("jobs", [(at(70), start, 1013), (at(130), start, 1013)])
        )
        rollup_run()
    rows = rollup_rows("metrics_rollup_1m", org_a.project.id)
    # The first point has no predecessor and an old start: a baseline, not an increase of 1000.
    assert [(r[1], r[7]) for r in rows] == [(at(-60), 0.0), (at(0), 10.0), (at(60), 3.0), (at(120), 0.0)]


def test_a_cumulative_histogram_is_rolled_up_as_the_differences_between_its_points(org_a):
    start = at(-7200)
    points = [(at(-30), start, [10, 10, 0]), (at(10), start, [12, 13, 1]), (at(70), start, [15, 13, 1])]
    points.append((at(100), at(90), [1, 0, 0]))  # restarted: counts start over
    with time_machine.travel(at(180), tick=False):
        rollup_run(now=at(-60))
        post_otlp_metrics(org_a.ingest_key, otlp_histogram("latency", points, [0.1, 1.0]))
        rollup_run()
    rows = rollup_rows("metrics_rollup_1m", org_a.project.id)
    buckets = {bucket: (count, counts) for _, bucket, count, *_, counts in rows}
    assert buckets == {at(-60): (0, None), at(0): (6, [2, 3, 1]), at(60): (4, [4, 0, 0])}


def test_the_beat_task_runs_every_minute_and_reports_what_it_wrote(org_a):
    from apps.metrics.tasks import rollup_metrics
    from config.celery import app

    assert app.conf.beat_schedule["metrics-rollup"] == {"task": rollup_metrics.name, "schedule": 60.0}
    with time_machine.travel(at(180), tick=False):
        fill_two_minutes(org_a.ingest_key)
        assert rollup_metrics.apply().get() == {"skipped": False, "minute_rows": 6, "hour_rows": 0}
