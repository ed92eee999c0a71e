"""Celery tasks of dashboards: span and point counts for the charts, and the demo data. Thin
wrappers; the claims that make each safe to run twice or concurrently are in apps.dashboards.counts
and apps.dashboards.demo."""

from __future__ import annotations

from celery import shared_task

from apps.dashboards import counts, demo
from apps.projects.models import Project


@shared_task(name="apps.dashboards.tasks.demo_fill")
def demo_fill(project_id: int) -> int:
    """The "Fill with demo data" button: backfill the project, then the trickle takes over."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:  # deleted since the click
        return 0
    return demo.fill(project).total


@shared_task(name="apps.dashboards.tasks.demo_trickle")
def demo_trickle() -> dict[int, int]:
    """Every few seconds (beat): the next few seconds of demo data for each flagged project."""
    return demo.trickle()


@shared_task(name="apps.dashboards.tasks.count_events")
def count_events() -> int:
    """Every minute (beat): advance the per-minute span and point counts. Returns chunks counted."""
    return counts.count_events().chunks
