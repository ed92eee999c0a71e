"""The nightly recount: accepted records as metered vs rows as stored, per organization, project,
signal and UTC day; every difference becomes a UsageRecount row that staff see in the admin.

Metering counts a record on the day it *arrives*; the telemetry tables keep it under the day of
its own *time*. The two differ for a backfill or a batch across midnight, so ingestion notes, with
the rows, how many records of a batch fall on other days (billing_usagerecordday). For day D:

    expected(D) = accepted metered on D - moved from arrival D to other days + moved to D from other days
    stored(D)   = rows of the project with their time in D, counted by each table's owner
                  (apps.logs / apps.traces / apps.metrics selectors; billing names none of their tables)

Both sides are written in the same transaction as the rows (or flushed from Redis within a minute
for the metered count), so on a quiet day they are equal exactly; a difference means records were
lost after they were acknowledged, counted twice, or deleted by hand. The task recounts the day
before yesterday and yesterday (late flushes have settled), and leaves out a project's signal on a
day its plan's retention may already have dropped (on purpose). Re-running replaces the day's rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.billing import retention
from apps.billing.models import UsageRecount
from apps.logs.selectors import count_logs_by_project
from apps.metrics.selectors import count_points_by_project
from apps.projects.models import Project
from apps.traces.selectors import count_spans_by_project

COUNTERS: dict[str, Callable[[datetime, datetime], dict[int, int]]] = {
    "logs": count_logs_by_project,
    "traces": count_spans_by_project,
    "metrics": count_points_by_project,
}
METERED_SQL = """
SELECT organization_id, project_id, signal, sum(count) FROM billing_usageday
WHERE day = %s AND outcome = 'accepted' AND signal = ANY(%s)
GROUP BY organization_id, project_id, signal
"""
MOVED_SQL = """
SELECT organization_id, project_id, signal,
       sum(CASE WHEN record_day = %s THEN count ELSE 0 END)
     - sum(CASE WHEN arrival_day = %s THEN count ELSE 0 END)
FROM billing_usagerecordday
WHERE (record_day = %s OR arrival_day = %s) AND signal = ANY(%s)
GROUP BY organization_id, project_id, signal
"""
Key = tuple[int, str]  # project id, signal


@dataclass(frozen=True)
class DayCount:
    organization_id: int
    project_id: int
    signal: str
    day: date
    metered: int  # expected(D) above
    stored: int

    @property
    def matches(self) -> bool:
        return self.metered == self.stored


def recount_day(day: date, now: datetime | None = None) -> list[DayCount]:
    """Compare and record day `day`; returns every (project, signal) that had anything, except
    those whose retention may already have dropped part of the day."""
    start = datetime.combine(day, time(), UTC)
    end = start + timedelta(days=1)
    signals = list(COUNTERS)
    expected: dict[Key, int] = defaultdict(int)
    organization_of: dict[int, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(METERED_SQL, [day, signals])
        rows = cursor.fetchall()
        cursor.execute(MOVED_SQL, [day, day, day, day, signals])
        rows += cursor.fetchall()
    for organization_id, project_id, signal, count in rows:
        expected[(project_id, signal)] += int(count)
        organization_of[project_id] = organization_id
    stored: dict[Key, int] = {}
    for signal, count_rows in COUNTERS.items():
        for project_id, count in count_rows(start, end).items():
            stored[(project_id, signal)] = count
    missing = set(stored) - set(organization_of)
    if missing:  # stored but never metered (e.g. Vigil's own demo telemetry): whose are they?
        organization_of.update(
            Project.objects.filter(pk__in={project_id for project_id, _ in missing}).values_list(
                "pk", "organization_id"
            )
        )
    now = now or timezone.now()
    result = [
        DayCount(
            organization_of.get(key[0], 0), key[0], key[1], day, expected.get(key, 0), stored.get(key, 0)
        )
        for key in sorted(set(expected) | set(stored))
        if (expected.get(key, 0) or stored.get(key, 0)) and _kept_whole(key, start, now)
    ]
    _record(day, [count for count in result if not count.matches])
    return result


def _kept_whole(key: Key, start: datetime, now: datetime) -> bool:
    """Whether retention cannot have dropped any of the day yet (a partition goes whole)."""
    project_id, signal = key
    kept = retention.for_project(project_id)
    days = {
        "logs": min(kept.debug_days, kept.info_days, kept.warn_days),
        "traces": kept.span_days,
        "metrics": kept.point_days,
    }[signal]
    return start >= now - timedelta(days=days)


def _record(day: date, differences: list[DayCount]) -> None:
    with transaction.atomic():
        UsageRecount.objects.filter(day=day).delete()
        UsageRecount.objects.bulk_create(
            UsageRecount(
                organization_id=c.organization_id,
                project_id=c.project_id,
                signal=c.signal,
                day=c.day,
                metered=c.metered,
                stored=c.stored,
                checked_at=timezone.now(),
            )
            for c in differences
        )


def recount_recent(now: datetime, days: int = 2) -> int:
    """The nightly run: the `days` full days before today (UTC). Returns the differences found."""
    today = now.astimezone(UTC).date()
    found = 0
    for back in range(days, 0, -1):
        found += sum(1 for count in recount_day(today - timedelta(days=back), now) if not count.matches)
    return found
