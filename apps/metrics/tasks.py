"""Beat tasks of metrics: thin wrappers, the work and its locking live in rollups.py."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.metrics import rollups


@shared_task(name="apps.metrics.tasks.rollup_metrics")
def rollup_metrics() -> dict[str, Any]:
    # Safe to run twice or concurrently: a run that finds the watermark claimed skips.
    result = rollups.rollup_run()
    return {"skipped": result.skipped, "minute_rows": result.minute_rows, "hour_rows": result.hour_rows}
