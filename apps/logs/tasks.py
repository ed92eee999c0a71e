"""Beat tasks of logs: thin wrappers, each safe to run twice or concurrently (see the modules)."""

from __future__ import annotations

from celery import shared_task

from apps.logs import counts, textindex


@shared_task(name="apps.logs.tasks.count_logs")
def count_logs() -> int:
    """Every minute: advance logs_count_1m. Returns the number of chunks counted."""
    return counts.count_logs().chunks


@shared_task(name="apps.logs.tasks.build_text_indexes")
def build_text_indexes() -> list[str]:
    """Every 10 minutes: trigram indexes on finished slices and sealed days, two per run at most."""
    return textindex.build_text_indexes()
