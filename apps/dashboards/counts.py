"""Maintaining dashboards_event_count_1m: spans (and those with an error status) and metric points
per project and minute, so the overview charts and the organization home never count raw rows
over long ranges (logs have their own counts: apps.logs.counts).

The scheme, and the code (apps.storage.counting), of the log counts. Each run claims the
watermark row (FOR UPDATE SKIP LOCKED: a concurrent run returns at once), recounts whole minutes
from `counted_until - late window` up to the last finished minute and *replaces* their counts
(INSERT ... ON CONFLICT DO UPDATE), so a second run or a redone crashed run writes the same numbers.
A first run starts at the longest span/point retention and catches up chunk by chunk within its time
budget.
Rows arriving later than the late window (a backfill, an exporter that was offline) are noted by
ingestion in dashboards_event_count_stale, in the same transaction as the rows
(note_late_rows below); each run recounts the noted minutes of the noted projects.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from apps.billing import retention
from apps.metrics.selectors import POINT_ROWS
from apps.storage import counting
from apps.storage.counting import RUN_BUDGET_SECONDS, CountRun, CountTable, advance, floor_minute
from apps.traces.selectors import SPAN_ROWS

SPAN_STATUS_ERROR = 2

# project_id = ANY(...) lets (project_id, start_ts) and (project_id, series_id, ts) serve a narrow
# window per project; the BRIN index on the points' ts helps the same way.
RECOUNT = f"""
INSERT INTO dashboards_event_count_1m AS c (project_id, minute, spans, span_errors, points)
SELECT project_id, minute, sum(spans), sum(span_errors), sum(points) FROM (
    SELECT project_id, date_trunc('minute', start_ts) AS minute, count(*) AS spans,
           count(*) FILTER (WHERE status_code = %(error)s) AS span_errors, 0 AS points
    FROM {SPAN_ROWS} s WHERE project_id = ANY(%(ids)s) AND start_ts >= %(start)s AND start_ts < %(end)s
    GROUP BY 1, 2
    UNION ALL
    SELECT project_id, date_trunc('minute', ts), 0, 0, count(*)
    FROM {POINT_ROWS} p WHERE project_id = ANY(%(ids)s) AND ts >= %(start)s AND ts < %(end)s
    GROUP BY 1, 2
) AS minutes GROUP BY 1, 2
ON CONFLICT (project_id, minute) DO UPDATE
SET spans = EXCLUDED.spans, span_errors = EXCLUDED.span_errors, points = EXCLUDED.points
WHERE (c.spans, c.span_errors, c.points) <> (EXCLUDED.spans, EXCLUDED.span_errors, EXCLUDED.points)
"""  # noqa: S608 (constants)


def count_events(now: datetime | None = None, budget: float = RUN_BUDGET_SECONDS) -> CountRun:
    """The beat task's body: the watermark scheme of apps.logs.counts, then expired minutes go."""
    run = advance(EVENT_COUNTS, now, budget)
    _forget_expired(floor_minute(now or datetime.now(UTC)))
    return run


def note_late_rows(cursor: Any, project_id: int, timestamps: list[datetime], now: datetime) -> None:
    """Called by ingestion inside its write transaction with the times of a batch's spans or
    points: the minutes of rows too late for the regular recount are noted for the next run."""
    counting.note_late_rows(cursor, project_id, timestamps, now, EVENT_COUNTS.stale)


def recount(
    start: datetime, end: datetime, project_ids: list[int] | None = None, cursor: CursorWrapper | None = None
) -> None:
    """Replace the counts of the whole minutes in [start, end) (of every project, or of these)."""
    if cursor is None:
        with transaction.atomic(), connection.cursor() as own:
            recount(start, end, project_ids, own)
        return
    if project_ids is None:
        cursor.execute("SELECT id FROM projects_project")
        project_ids = [row[0] for row in cursor.fetchall()]
    params: dict[str, Any] = {
        "ids": project_ids,
        "start": floor_minute(start),
        "end": floor_minute(end),
        "error": SPAN_STATUS_ERROR,
    }
    cursor.execute(RECOUNT, params)


def counted_until() -> datetime | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT counted_until FROM dashboards_event_count_watermark WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else None


def _longest_retention() -> timedelta:
    longest = retention.longest()
    return timedelta(days=max(longest.span_days, longest.point_days))


def _forget_expired(now: datetime) -> None:
    """Minutes past every plan's span and point retention are never shown: a small DELETE a run
    (rows come in minute order, so the BRIN index on minute finds the old ones)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM dashboards_event_count_1m WHERE minute < %s", [now - _longest_retention()]
        )


EVENT_COUNTS = CountTable(
    watermark="dashboards_event_count_watermark",
    stale="dashboards_event_count_stale",
    # A first run starts at the longest span/point retention: older rows are never shown.
    first_start=lambda cursor, until: until - _longest_retention(),
    recount=lambda start, end, cursor, project_ids: recount(start, end, project_ids, cursor),
)
