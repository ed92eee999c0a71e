"""How long events are kept: as long as error-class logs (`warn_days` of the project's plan).

Events are day partitions (apps.errors.storage), so retention drops whole days once even the
longest retention of any plan has passed — as for logs and spans, never a DELETE of rows; reads
bound by each project's own cutoff, so nothing past its plan's retention is served between runs.
Issues stay: their counts and first/last seen are history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apps.billing import retention
from apps.errors import storage
from apps.errors.models import IssueHour

ISSUE_HOURS_DAYS = 14  # the hourly counts behind the issue list's sparklines (24 h shown)


def cutoff(project_id: int, now: datetime) -> datetime:
    return now - timedelta(days=retention.for_project(project_id).warn_days)


def drop_expired_events(now: datetime) -> list[str]:
    """Drop the day partitions of events past the longest retention of any plan, forget event ids
    past the dedup window and hourly counts past ISSUE_HOURS_DAYS. Idempotent; returns the
    partitions dropped."""
    dropped = storage.drop_expired(now - timedelta(days=retention.longest().warn_days))
    storage.trim_dedup_keys(now)
    IssueHour.objects.filter(hour__lt=now - timedelta(days=ISSUE_HOURS_DAYS)).delete()
    return dropped
