"""Demo data: `manage.py demo` and the "Fill with demo data" button fill a project with a few
hours of telemetry from a simulated shop (apps.dashboards.demo_shop), then a beat task keeps a
trickle coming so its dashboards stay alive.

Design note.
* Same path as real data: the simulation builds OTLP Export*ServiceRequest messages and hands
  them to the ingestion service (apps.ingestion.services.store_otlp), which decodes them
  (validation, limits, redaction), writes them and announces them to live pages, as its
  endpoints do — only without a key's quota. Nothing here writes a telemetry row itself.
* The flag is a DemoFeed row. `filled_until` says how far the data goes: a second fill only adds
  what is missing, and each trickle step claims [filled_until, now) with a compare-and-set, so
  no range is ever written twice. The trickle stops for a project nobody viewed for a day
  (IDLE_AFTER) or when the row is deleted (`manage.py demo --stop`).
* Backfilled minutes lie behind the count and rollup watermarks, which the beat tasks do not
  revisit: `fill` recounts and re-rolls exactly the range it wrote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError
from django.utils import timezone

from apps.dashboards import counts as event_counts
from apps.dashboards.demo_shop import Telemetry, simulate
from apps.dashboards.models import IDLE_AFTER, DemoFeed
from apps.ingestion import services as ingestion
from apps.logs import counts
from apps.metrics import rollups
from apps.projects.models import Organization, Project
from apps.storage.counting import floor_minute

logger = logging.getLogger(__name__)

DEFAULT_HOURS = 3.0
CHUNK = timedelta(minutes=15)  # one write (a transaction per signal) per chunk of simulated time
TRICKLE_MAX_GAP = timedelta(minutes=2)  # after a longer pause (beat stopped) the trickle skips ahead
VIEW_GRACE = timedelta(minutes=5)  # page views refresh last_viewed_at at most this often


# --- Writing through ingestion -------------------------------------------------------------


@dataclass
class Written:
    logs: int = 0
    spans: int = 0
    points: int = 0
    covered: timedelta = timedelta(0)  # simulated time

    def add(self, other: Written) -> None:
        self.logs += other.logs
        self.spans += other.spans
        self.points += other.points
        self.covered += other.covered

    @property
    def total(self) -> int:
        return self.logs + self.spans + self.points


def write(project_id: int, telemetry: Telemetry) -> Written:
    """Store each OTLP request through the ingestion service, as its endpoints would."""
    logs = ingestion.store_otlp(project_id, "logs", telemetry.logs)
    spans = ingestion.store_otlp(project_id, "traces", telemetry.traces)
    metrics = ingestion.store_otlp(project_id, "metrics", telemetry.metrics)
    return Written(len(logs.logs), len(spans.spans), len(metrics.points))


# --- Feeds: the demo flag, the backfill and the trickle -------------------------------------


def demo_project(organization: Organization) -> Project:
    """The organization's "Demo" project, created when missing."""
    project = organization.projects.filter(name__iexact="demo").first()
    return project or Project.objects.create(organization=organization, name="Demo")


def mark(project: Project) -> DemoFeed:
    """Flag the project for demo data (idempotent); until `fill` claims it, its first fill is
    pending (the overview says so)."""
    feed, _ = DemoFeed.objects.get_or_create(project=project)
    return feed


def fill(project: Project, hours: float = DEFAULT_HOURS, now: datetime | None = None) -> Written:
    """Backfill the last `hours` — only what an earlier fill did not cover — and leave the project
    marked so the trickle continues from `now`. Running it twice does not duplicate data."""
    now = now or timezone.now()
    feed = mark(project)
    previous = feed.filled_until
    start = now - timedelta(hours=hours) if previous is None else max(now - timedelta(hours=hours), previous)
    anchor = now if previous is None else feed.anchor
    # Claim [start, now) with a compare-and-set on filled_until, as the trickle does: the trickle
    # then only ever writes after `now`, and a concurrent fill finds nothing left to claim.
    claimed = DemoFeed.objects.filter(pk=feed.pk, filled_until=previous).update(
        filled_until=now, anchor=anchor, last_viewed_at=now
    )
    written = Written()
    if not claimed:
        return written
    # Newest chunk first: an open overview shows the recent past within seconds.
    chunk_end = now
    while chunk_end > start:
        chunk_start = max(chunk_end - CHUNK, start)
        seed = project.pk * 1_000_003 + int(chunk_start.timestamp())
        written.add(write(project.pk, simulate(chunk_start, chunk_end, anchor, seed)))
        written.covered += chunk_end - chunk_start
        _recount(project.pk, chunk_start, chunk_end)
        chunk_end = chunk_start
    return written


def _recount(project_id: int, start: datetime, end: datetime) -> None:
    """Counts and rollups of a backfilled range: the beat tasks only look back from their
    watermarks by a late window, and these minutes may lie further back."""
    first, last = floor_minute(start), floor_minute(end) + timedelta(minutes=1)
    try:
        counts.recount(first, last, project_ids=[project_id])
        event_counts.recount(first, last, project_ids=[project_id])
        rollups.rollup_range(first, last)
    except DatabaseError:  # e.g. a deadlock with a concurrent beat run; these minutes stay uncounted
        logger.warning("demo: recounting %s..%s failed", first, last, exc_info=True)


def trickle(now: datetime | None = None) -> dict[int, int]:
    """One step for every flagged project: the telemetry of [filled_until, now). Returns events
    written per project. Feeds nobody looked at for IDLE_AFTER are cleared (the trickle stops)."""
    now = now or timezone.now()
    DemoFeed.objects.filter(last_viewed_at__lt=now - IDLE_AFTER).delete()
    written = {}
    for feed in DemoFeed.objects.filter(filled_until__lt=now):
        start = max(feed.filled_until or now, now - TRICKLE_MAX_GAP)
        # The compare-and-set on filled_until is the claim: a concurrent run (two beats, a slow
        # worker) loses it and writes nothing, so no range is written twice.
        claimed = DemoFeed.objects.filter(pk=feed.pk, filled_until=feed.filled_until).update(filled_until=now)
        if claimed:
            seed = feed.project_id * 1_000_003 + int(start.timestamp() * 1000)
            written[feed.project_id] = write(feed.project_id, simulate(start, now, feed.anchor, seed)).total
    return written


def seen(project: Project, now: datetime | None = None) -> None:
    """A dashboard page of the project was viewed: keep its demo feed (if any) going. One UPDATE
    that matches nothing for projects without a feed or viewed in the last few minutes."""
    now = now or timezone.now()
    DemoFeed.objects.filter(project=project, last_viewed_at__lt=now - VIEW_GRACE).update(last_viewed_at=now)


def stop(project: Project) -> bool:
    """Clear the demo flag: the trickle stops (the data stays)."""
    deleted, _ = DemoFeed.objects.filter(project=project).delete()
    return bool(deleted)
