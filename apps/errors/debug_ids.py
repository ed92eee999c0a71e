"""Debug ids: a minified file's source map found by the id its build wrote into both, not by
release and file name.

Design note.
* The build: `sentry-cli sourcemaps inject dist/` (or a bundler plugin) writes `//# debugId=<uuid>`
  into each minified file, `"debugId": "<uuid>"` into its map, and a snippet that registers the id
  in `globalThis._sentryDebugIds` when the file loads.
* The upload: `sentry-cli sourcemaps upload dist/` (a release is optional) sends an artifact
  bundle whose manifest.json gives each file a `type` (`minified_source`, `source_map`) and a
  `debug-id` header. `debug_id_files_store` keeps those files per project, one per (debug id,
  type), under an ArtifactBundle row that retention ages by its last use.
* The event: the JS SDKs map each frame's file to its id and send
  `debug_meta.images: [{"type": "sourcemap", "code_file": <frame abs_path or filename>,
  "debug_id": <uuid>}]`. `images_of` reads that; sourcemaps.symbolicate looks a frame's map up
  by its file's debug id first and falls back to release + file name (as symbolicator-js does).
* Tenancy: a debug id is only a claim by whoever built the file, so every lookup is by
  (project, debug id): another tenant's upload of the same id is never read.
* Cost: one indexed query per event that has sourcemap images matching its frames.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from symbolic.sourcemap import SourceMapView, SourceView

from apps.errors.models import ArtifactBundle, DebugIdFile, SourceFileType
from apps.projects.models import Project

MAX_IMAGES = 200  # an event names a few dozen files at most; more is not worth a bigger query
# A bundle read by symbolication has its last use written at most this often: one UPDATE per
# bundle per day instead of one per event.
USE_RESOLUTION = timedelta(days=1)
# sentry-cli classifies any JS file as `minified_source`; older versions said `source`.
FILE_TYPES = {
    "minified_source": SourceFileType.MINIFIED_SOURCE,
    "source": SourceFileType.MINIFIED_SOURCE,
    "source_map": SourceFileType.SOURCE_MAP,
}


@dataclass
class BundledFile:
    """One file of an artifact bundle's manifest."""

    url: str
    data: bytes
    headers: dict[str, str]
    file_type: str  # the manifest's `type`, "" when absent


def parse_debug_id(value: Any) -> uuid.UUID | None:
    """The UUID of a JS debug id (any case, with or without dashes), None if it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


def images_of(event: dict[str, Any]) -> dict[str, uuid.UUID]:
    """The event's `sourcemap` debug images: file (as the frames name it) -> debug id."""
    debug_meta = event.get("debug_meta")
    images = debug_meta.get("images") if isinstance(debug_meta, dict) else None
    if not isinstance(images, list):
        return {}
    found: dict[str, uuid.UUID] = {}
    for image in images[:MAX_IMAGES]:
        if not isinstance(image, dict) or image.get("type") != "sourcemap":
            continue
        code_file, debug_id = image.get("code_file"), parse_debug_id(image.get("debug_id"))
        if isinstance(code_file, str) and code_file and debug_id is not None:
            found[code_file] = debug_id
    return found


def _debug_id_of(file: BundledFile) -> tuple[uuid.UUID, str] | None:
    headers = {k.lower(): v for k, v in file.headers.items()}
    debug_id = parse_debug_id(headers.get("debug-id"))
    file_type = FILE_TYPES.get(file.file_type)
    if file_type is None and not file.file_type:  # bundles of tools that write no `type`
        file_type = SourceFileType.SOURCE_MAP if file.url.endswith(".map") else SourceFileType.MINIFIED_SOURCE
    if debug_id is None or file_type is None:
        return None
    return debug_id, file_type


def has_debug_ids(files: list[BundledFile]) -> bool:
    return any(_debug_id_of(f) is not None for f in files)


def debug_id_files_store(
    projects: list[Project], bundle_id: str, release: str, dist: str, files: list[BundledFile]
) -> int:
    """Keep the files of a bundle that carry a debug id, for each project; returns how many rows
    were written. Idempotent: the same bundle again (sentry-cli retries) rewrites the same rows,
    and a newer bundle with a file of the same debug id takes it over."""
    indexed = [(f, found) for f in files if (found := _debug_id_of(f)) is not None]
    if not indexed:
        return 0
    size = sum(len(f.data) for f, _ in indexed)
    stored = 0
    for project in projects:
        with transaction.atomic():
            bundle, _ = ArtifactBundle.objects.update_or_create(
                project=project,
                bundle_id=bundle_id,
                defaults={"release": release, "dist": dist, "size": size},
            )
            for file, (debug_id, file_type) in indexed:
                DebugIdFile.objects.update_or_create(
                    project=project,
                    debug_id=debug_id,
                    file_type=file_type,
                    defaults={
                        "bundle": bundle,
                        "name": file.url,
                        "headers": file.headers,
                        "size": len(file.data),
                        "sha1": hashlib.sha1(file.data, usedforsecurity=False).hexdigest(),
                        "data": file.data,
                    },
                )
                stored += 1
    return stored


class DebugIdFiles:
    """The project's uploaded files of the debug ids an event names, read in one query."""

    def __init__(self, project_id: int, debug_ids: set[uuid.UUID]) -> None:
        rows = DebugIdFile.objects.filter(project_id=project_id, debug_id__in=debug_ids).select_related(
            "bundle"
        )
        self.files: dict[tuple[uuid.UUID, str], DebugIdFile] = {(r.debug_id, r.file_type): r for r in rows}
        self.parsed: dict[uuid.UUID, tuple[SourceMapView, SourceView | None]] = {}
        self.used: dict[int, ArtifactBundle] = {}

    def minified(self, debug_id: uuid.UUID) -> DebugIdFile | None:
        return self.files.get((debug_id, SourceFileType.MINIFIED_SOURCE))

    def resolve(self, debug_id: uuid.UUID) -> tuple[SourceMapView, SourceView | None] | None:
        """The parsed map and minified source (None if not uploaded) of a debug id, parsed once."""
        source_map = self.files.get((debug_id, SourceFileType.SOURCE_MAP))
        if source_map is None:
            return None
        if debug_id not in self.parsed:
            minified = self.minified(debug_id)
            self.parsed[debug_id] = (
                SourceMapView.from_json_bytes(bytes(source_map.data)),
                SourceView.from_bytes(bytes(minified.data)) if minified is not None else None,
            )
        self.used[source_map.bundle_id] = source_map.bundle
        return self.parsed[debug_id]

    def mark_used(self, now: datetime) -> None:
        """Record that the bundles read were used, at most once per USE_RESOLUTION each."""
        stale = [pk for pk, bundle in self.used.items() if bundle.last_used_at < now - USE_RESOLUTION]
        if stale:
            ArtifactBundle.objects.filter(pk__in=stale).update(last_used_at=now)
