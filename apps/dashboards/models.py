"""The one table of dashboards: which projects get demo telemetry (`manage.py demo`, the "Fill with
demo data" button). Live state (the announcement stream) lives in Redis, see live.py."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone

# The trickle stops for a project nobody has looked at for this long (no dashboard page view).
IDLE_AFTER = timedelta(hours=24)


class DemoFeed(models.Model):
    """A project marked for demo data. Deleting the row is clearing the flag: the trickle stops."""

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="demo_feed")
    created_at = models.DateTimeField(default=timezone.now)
    # Incidents of the simulation are scheduled from here, so a fresh demo always shows one.
    anchor = models.DateTimeField(default=timezone.now)
    # Telemetry exists up to here; None while the first backfill is still pending (Celery task).
    filled_until = models.DateTimeField(null=True, blank=True)
    last_viewed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"demo feed of project {self.project_id}"

    @property
    def is_pending(self) -> bool:
        return self.filled_until is None
