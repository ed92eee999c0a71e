"""Beat tasks of error tracking: thin wrappers, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.errors.retention import delete_expired_events


@shared_task(name="apps.errors.tasks.delete_expired_events")
def delete_expired_events_task() -> int:
    return delete_expired_events(timezone.now())
