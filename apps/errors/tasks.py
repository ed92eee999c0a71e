"""Beat tasks of error tracking: thin wrappers, safe to run twice or concurrently."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.errors import grouper, storage
from apps.errors.attachments import delete_expired_attachments
from apps.errors.retention import delete_abandoned_chunks, delete_unused_source_maps, drop_expired_events
from apps.storage.partitions import days_around


@shared_task(name="apps.errors.tasks.delete_expired_events")
def delete_expired_events_task() -> list[str]:
    """Hourly (the beat entry keeps its old name): expired day partitions of events go, and the
    next days' partitions are made ahead so the first event of a day never waits for DDL;
    attachments past the longest retention go with them, and unused source maps and abandoned
    chunks (apps.errors.retention)."""
    storage.ensure_partitions(days_around(days_ahead=3))
    delete_expired_attachments(timezone.now())
    delete_unused_source_maps(timezone.now())
    delete_abandoned_chunks(timezone.now())
    return drop_expired_events(timezone.now())


@shared_task(name="apps.errors.tasks.group_pending")
def group_pending_task() -> int:
    """Every minute: group events no web process grouped (one was killed, or none is running)."""
    return grouper.sweep()
