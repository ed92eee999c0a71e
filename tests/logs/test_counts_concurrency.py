"""Two count_logs runs at once never double-count: the watermark row is claimed with SKIP LOCKED
and counts are replaced, not added."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from apps.logs.counts import count_logs, floor_minute
from tests.telemetry import ingest_logs

pytestmark = pytest.mark.usefixtures("committed_logs_cleanup")


def total_counted(project_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(count), 0) FROM logs_count_1m WHERE project_id = %s", [project_id]
        )
        return int(cursor.fetchone()[0])


def test_concurrent_runs_count_every_log_exactly_once(org_a):
    now = floor_minute(datetime.now(UTC))
    ingest_logs(
        org_a.ingest_key,
        [
            {"timestamp": (now - timedelta(seconds=7 * n + 1)).isoformat(), "message": f"m{n}"}
            for n in range(500)
        ],
    )
    start = threading.Barrier(4)
    runs = []

    def run() -> None:
        try:
            start.wait()
            runs.append(count_logs(now=now))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    count_logs(now=now)  # whatever the interleaving, a final run must not change anything
    assert total_counted(org_a.project.pk) == 500
    assert sum(run.chunks for run in runs) >= 1
