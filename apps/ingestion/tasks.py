"""Beat tasks of ingestion. Idempotent: partition creation is IF NOT EXISTS under an advisory lock."""

from __future__ import annotations

from celery import shared_task

from apps.logs import storage as logs
from apps.metrics import storage as metrics
from apps.storage.partitions import days_around, forget_partitions
from apps.traces import storage as traces


@shared_task(name="apps.ingestion.tasks.create_partitions_ahead")
def create_partitions_ahead(days_ahead: int = 3) -> int:
    """The day partitions ingestion writes to, made ahead by their owners; returns the count checked."""
    # A fresh process may hold a stale memory of partitions; the DDL is cheap and idempotent.
    forget_partitions()
    days = days_around(days_ahead=days_ahead)
    for ensure in (logs.ensure_partitions, metrics.ensure_point_partitions, traces.ensure_partitions):
        ensure(days)
    return len(days) * 3
