"""Beat tasks of logs: thin wrappers, each safe to run twice or concurrently (see the modules)."""

from __future__ import annotations

from celery import shared_task

from apps.logs import counts, indexes


@shared_task(name="apps.logs.tasks.count_logs")
def count_logs() -> int:
    """Every minute: advance logs_count_1m. Returns the number of chunks counted."""
    return counts.count_logs().chunks


@shared_task(name="apps.logs.tasks.build_indexes")
def build_indexes() -> list[str]:
    """Every 10 minutes: trigram indexes on finished slices and sealed days, trace B-trees on sealed
    days; two builds per run at most."""
    return indexes.build_indexes()


@shared_task(name="apps.logs.tasks.summarize_trace_blooms")
def summarize_trace_blooms() -> int:
    """Every minute: summarise the new page ranges of the open days' trace bloom indexes."""
    return indexes.summarize_trace_blooms()
