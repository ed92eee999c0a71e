"""Events past retention (error-class logs' `warn_days`) are neither served nor kept: hidden at
once, their day partition dropped by the hourly task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from apps.errors.models import Event, Issue, IssueHour
from apps.errors.services import event_store
from apps.errors.tasks import delete_expired_events_task


def test_expired_events_are_hidden_at_once_and_dropped_by_the_hourly_task(alice_client, org_a, settings):
    settings.RETENTION_WARN_DAYS = 30
    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        event_store(org_a.project.pk, {"message": "queue full"}, datetime.now(UTC))
    later = start + timedelta(days=31)
    with time_machine.travel(later, tick=False):
        event_store(org_a.project.pk, {"message": "queue full"}, datetime.now(UTC))
        issue = Issue.objects.get()
        url = f"/api/v1/projects/{org_a.project.pk}/issues/{issue.pk}/events"
        served = alice_client.get(url).json()
        stored_before = Event.objects.count()
        deleted = delete_expired_events_task()
        again = delete_expired_events_task()

    assert len(served) == 1 and stored_before == 2
    assert (deleted, again) == (["errors_event_p20261101"], [])
    assert Event.objects.get().received == later
    issue.refresh_from_db()
    assert issue.event_count == 2  # the issue keeps its history


def test_hourly_counts_are_kept_fourteen_days(org_a):
    now = datetime.now(UTC)
    for days in (20, 1):
        with time_machine.travel(now - timedelta(days=days), tick=False):
            event_store(org_a.project.pk, {"message": "disk full"}, datetime.now(UTC))
    issue = Issue.objects.get(title="disk full")
    assert IssueHour.objects.filter(issue=issue).count() == 2

    delete_expired_events_task()

    assert list(IssueHour.objects.filter(issue=issue).values_list("events", flat=True)) == [1]
    issue.refresh_from_db()
    assert issue.event_count == 2  # the issue's own count is history, kept
