"""GET .../logs/stats and the per-minute counts behind it (apps.logs.counts)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client

from apps.logs.counts import count_logs, floor_minute
from apps.logs.stats import bucket_for
from tests.logs.conftest import logs_url, read
from tests.telemetry import ingest_logs

NOW = floor_minute(datetime.now(UTC))


@pytest.fixture(autouse=True)
def _now_is_when_the_test_starts():
    """Each test's "now", not the module's import time: in a long, loaded suite a test may start
    minutes after the import, and "2 minutes ago" would be past the late window of the counts."""
    global NOW
    NOW = floor_minute(datetime.now(UTC))


def mixed_logs(org, minutes_ago: list[float]) -> None:
    levels = ["error", "warn", "info", "info", "debug"]
    services = ["api", "api", "db", "worker", "api"]
    ingest_logs(
        org.ingest_key,
        [
            {
                "timestamp": (NOW - timedelta(minutes=m)).isoformat(),
                "level": levels[n % 5],
                "service": services[n % 5],
                "message": f"event {n}",
            }
            for n, m in enumerate(minutes_ago)
        ],
    )


def stats(org, **params):
    response = read(Client(), logs_url(org.project.pk, "/stats"), org.read_key, **params)
    assert response.status_code == 200, response.content
    return response.json()


def stored_counts(project_id: int) -> dict[tuple, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT minute, level, service, count FROM logs_count_1m WHERE project_id = %s", [project_id]
        )
        return {tuple(row[:3]): row[3] for row in cursor.fetchall()}


def test_stats_count_levels_services_and_the_error_ratio_exactly(org_a):
    mixed_logs(org_a, [10, 10.5, 11, 20, 25, 40, 41, 42, 43, 59])
    body = stats(org_a, end=NOW.isoformat())
    assert body["total"] == 10
    assert {k: v for k, v in body["levels"].items() if v} == {"error": 2, "warn": 2, "info": 4, "debug": 2}
    assert body["error_ratio"] == 0.2
    assert body["top_services"] == [
        {"service": "api", "count": 6},
        {"service": "db", "count": 2},
        {"service": "worker", "count": 2},
    ]
    assert body["bucket_seconds"] == 60 and len(body["buckets"]) == 60
    assert sum(bucket["total"] for bucket in body["buckets"]) == 10


def test_stats_from_the_counts_table_equal_a_scan_of_the_logs(org_a):
    mixed_logs(org_a, [n * 7.3 for n in range(40)])
    count_logs(now=NOW)
    window = {
        "start": (NOW - timedelta(hours=5, seconds=30)).isoformat(),
        "end": (NOW + timedelta(seconds=30)).isoformat(),
    }
    from_counts = stats(org_a, **window)
    scanned = stats(org_a, q='""', **window)  # an empty phrase matches everything but is not countable
    assert from_counts["source"] == "counts+scan" and scanned["source"] == "scan"
    for key in ("buckets", "levels", "total", "top_services", "error_ratio"):
        assert from_counts[key] == scanned[key], key
    assert from_counts["total"] == 40


def test_level_and_service_filters_are_served_from_the_counts(org_a):
    mixed_logs(org_a, [5, 6, 7, 8, 9, 10])
    count_logs(now=NOW)
    body = stats(org_a, q="level>=warn -service:db", end=NOW.isoformat())
    assert body["source"] == "counts"
    assert body["total"] == 3 and body["levels"]["error"] == 2 and body["levels"]["warn"] == 1
    assert stats(org_a, q="event", end=NOW.isoformat())["source"] == "scan"


@pytest.mark.parametrize(
    ("span", "bucket"), [(timedelta(hours=1), 60), (timedelta(hours=24), 300), (timedelta(days=7), 3600)]
)
def test_the_bucket_grows_with_the_range(span, bucket):
    assert bucket_for(span) == bucket


def test_counting_twice_gives_the_same_counts(org_a):
    mixed_logs(org_a, [3, 3.2, 4, 9])
    count_logs(now=NOW)
    first = stored_counts(org_a.project.pk)
    count_logs(now=NOW)
    count_logs(now=NOW + timedelta(minutes=1))
    assert stored_counts(org_a.project.pk) == first
    assert sum(first.values()) == 4
    assert rollup_totals(org_a.project.pk) == (4, 4)


def rollup_totals(project_id: int) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT sum(count) FROM logs_count_level_1m WHERE project_id = %s),"
            " (SELECT sum(count) FROM logs_count_service_1h WHERE project_id = %s)",
            [project_id, project_id],
        )
        return tuple(int(n or 0) for n in cursor.fetchone())


def test_logs_arriving_late_within_the_window_are_recounted_not_added(org_a):
    mixed_logs(org_a, [5, 5.5])
    count_logs(now=NOW)
    mixed_logs(org_a, [5.2])  # same minute as already counted rows, arriving after the run
    count_logs(now=NOW + timedelta(minutes=1))
    counts = stored_counts(org_a.project.pk)
    assert sum(counts.values()) == 3
    assert rollup_totals(org_a.project.pk) == (3, 3)
    assert stats(org_a, end=NOW.isoformat())["total"] == 3


def test_a_run_finding_the_watermark_claimed_does_nothing(org_a):
    mixed_logs(org_a, [2])
    with connection.cursor() as cursor:
        cursor.execute("SELECT counted_until FROM logs_count_watermark WHERE id = 1")
        before = cursor.fetchone()[0]
    # Inside this test's transaction the row is ours; a second session must skip it. Simulate
    # the claim being held by locking it from another connection.
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            other.set_autocommit(False)
            cursor.execute("SELECT 1 FROM logs_count_watermark WHERE id = 1 FOR UPDATE")
            run = count_logs(now=NOW)
        assert run.chunks == 0
        with connection.cursor() as cursor:
            cursor.execute("SELECT counted_until FROM logs_count_watermark WHERE id = 1")
            assert cursor.fetchone()[0] == before
    finally:
        other.rollback()
        other.close()


def test_logs_arriving_later_than_the_window_are_counted_on_the_next_run(org_a, settings):
    settings.LOGS_COUNT_LATE_MINUTES = 15
    mixed_logs(org_a, [1])
    count_logs(now=NOW)
    assert stats(org_a, start="-3h", end=NOW.isoformat())["total"] == 1

    mixed_logs(org_a, [120, 121, 90])  # hours late: far behind the range a run recounts
    count_logs(now=NOW + timedelta(minutes=1))

    assert sum(stored_counts(org_a.project.pk).values()) == 4
    assert rollup_totals(org_a.project.pk) == (4, 4)
    assert stats(org_a, start="-3h", end=NOW.isoformat())["total"] == 4
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM logs_count_stale")
        assert cursor.fetchone()[0] == 0  # the note was claimed with the recount


def test_logs_within_the_window_leave_no_stale_note(org_a):
    # Sent at NOW: NOW is fixed when this module is collected, and a long suite reaches this test
    # later than the late window, when "3 minutes before NOW" has become a late row.
    with time_machine.travel(NOW + timedelta(seconds=30), tick=False):
        mixed_logs(org_a, [2, 3])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM logs_count_stale WHERE project_id = %s", [org_a.project.pk])
        assert cursor.fetchone()[0] == 0
