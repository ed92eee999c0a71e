from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.billing.retention import drop_expired_partitions
from apps.storage.partitions import forget_partitions


@shared_task(name="apps.billing.tasks.enforce_retention")
def enforce_retention() -> int:
    """Daily: drop partitions past retention. Safe to run twice or concurrently (see the callee)."""
    dropped = drop_expired_partitions(timezone.now())
    if dropped:
        forget_partitions()  # this worker's memory of which partitions exist
    return len(dropped)
