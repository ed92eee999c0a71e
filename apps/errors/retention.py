"""How long events are kept: as long as error-class logs (`warn_days` of the project's plan).

Events are a plain table (models.py says why), so expired rows are deleted in batches by an
hourly task rather than dropped as partitions; reads bound by the same cutoff, so nothing past
retention is served between runs. Issues stay: their counts and first/last seen are history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection

from apps.billing import retention

BATCH = 10_000


def cutoff(project_id: int, now: datetime) -> datetime:
    return now - timedelta(days=retention.for_project(project_id).warn_days)


def delete_expired_events(now: datetime) -> int:
    """Delete events older than the longest retention of any plan, BATCH rows per statement so
    no transaction holds many row locks or a long snapshot. Safe to run twice or concurrently."""
    oldest_kept = now - timedelta(days=retention.longest().warn_days)
    deleted = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM errors_event WHERE id IN"
                " (SELECT id FROM errors_event WHERE received < %s LIMIT %s FOR UPDATE SKIP LOCKED)",
                [oldest_kept, BATCH],
            )
            deleted += cursor.rowcount
            if cursor.rowcount < BATCH:
                return deleted
