"""Beat tasks of ingestion. Idempotent: partition creation is IF NOT EXISTS under an advisory lock."""

from __future__ import annotations

from celery import shared_task

from apps.ingestion import partitions


@shared_task(name="apps.ingestion.tasks.create_partitions_ahead")
def create_partitions_ahead(days_ahead: int = 3) -> int:
    # A fresh process may hold a stale memory of partitions; the DDL is cheap and idempotent.
    partitions.forget_partitions()
    return partitions.create_ahead(days_ahead=days_ahead)
