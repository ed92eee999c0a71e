"""How long events are kept: as long as error-class logs (`warn_days` of the project's plan).

Events are day partitions (apps.errors.storage), so retention drops whole days once even the
longest retention of any plan has passed — as for logs and spans, never a DELETE of rows; reads
bound by each project's own cutoff, so nothing past its plan's retention is served between runs.
Issues stay: their counts and first/last seen are history.

Uploaded source maps are not telemetry: small tables of rows, deleted in batches (short
transactions, no long lock on a table the ingest path reads) once unused:
* a debug-id ArtifactBundle (and its files) when no symbolication read it for
  SOURCEMAP_RETENTION_DAYS since its upload or last use;
* a release's files together, when none of them was read for as long — a release still serving
  errors keeps even its rarely needed files (a map of a lazy-loaded chunk);
* chunks never assembled (sentry-cli stopped halfway) after SOURCEMAP_CHUNK_RETENTION_HOURS: a
  late assemble then answers `not_found` for them and sentry-cli uploads them again.
"Used" is written at most daily (apps.errors.debug_ids.USE_RESOLUTION), far finer than 90 days.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, Model, OuterRef, QuerySet

from apps.billing import retention
from apps.errors import storage, symbol_cache
from apps.errors.models import ArtifactBundle, FileChunk, IssueHour, ReleaseFile

ISSUE_HOURS_DAYS = 14  # the hourly counts behind the issue list's sparklines (24 h shown)
BATCH = 500


def cutoff(project_id: int, now: datetime) -> datetime:
    return now - timedelta(days=retention.for_project(project_id).warn_days)


def drop_expired_events(now: datetime) -> list[str]:
    """Drop the day partitions of events past the longest retention of any plan, forget event ids
    past the dedup window and hourly counts past ISSUE_HOURS_DAYS. Idempotent; returns the
    partitions dropped."""
    dropped = storage.drop_expired(now - timedelta(days=retention.longest().warn_days))
    storage.trim_dedup_keys(now)
    IssueHour.objects.filter(hour__lt=now - timedelta(days=ISSUE_HOURS_DAYS)).delete()
    return dropped


def delete_unused_source_maps(now: datetime, batch: int = BATCH) -> int:
    """Delete debug-id bundles and releases' files unused for SOURCEMAP_RETENTION_DAYS; returns
    how many bundles and release files went."""
    cutoff = now - timedelta(days=settings.SOURCEMAP_RETENTION_DAYS)
    bundles = ArtifactBundle.objects.filter(last_used_at__lt=cutoff)
    release_in_use = ReleaseFile.objects.filter(
        project_id=OuterRef("project_id"),
        release=OuterRef("release"),
        dist=OuterRef("dist"),
        last_used_at__gte=cutoff,
    )
    stale = ReleaseFile.objects.filter(last_used_at__lt=cutoff).exclude(Exists(release_in_use))
    projects: set[int] = set()
    deleted = _delete_in_batches(bundles, batch, projects) + _delete_in_batches(stale, batch, projects)
    # Processes that remember these files read the projects' uploads afresh (apps.errors.symbol_cache).
    symbol_cache.uploads_changed(projects)
    return deleted


def delete_abandoned_chunks(now: datetime, batch: int = BATCH) -> int:
    """Delete chunks uploaded over SOURCEMAP_CHUNK_RETENTION_HOURS ago and never assembled."""
    cutoff = now - timedelta(hours=settings.SOURCEMAP_CHUNK_RETENTION_HOURS)
    return _delete_in_batches(FileChunk.objects.filter(created_at__lt=cutoff), batch)


def _delete_in_batches(expired: QuerySet[Model], batch: int, projects: set[int] | None = None) -> int:
    """Delete the rows of `expired`, `batch` at a time; the condition is checked again by each
    DELETE, so a row used meanwhile stays. With `projects`, the project ids of the rows deleted
    (or about to be) are added to it."""
    model = expired.model
    deleted = 0
    while rows := list(expired.values_list("pk", "project_id" if projects is not None else "pk")[:batch]):
        ids = [pk for pk, _ in rows]
        if projects is not None:
            projects.update(project_id for _, project_id in rows)
        _, per_model = expired.filter(pk__in=ids).delete()
        deleted += per_model.get(model._meta.label, 0)
        if len(ids) < batch:
            break
    return deleted
