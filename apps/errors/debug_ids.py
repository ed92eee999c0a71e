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
* Cost: one indexed query the first time a process meets a project's debug id (after each upload
  to the project: apps.errors.symbol_cache), none for the events after it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from symbolic.sourcemap import SourceMapView, SourceView

from apps.errors import symbol_cache
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
    symbol_cache.uploads_changed(project.pk for project in projects)
    return stored


@dataclass
class BundleRef:
    """The ArtifactBundle a file came in, which retention ages by its last use."""

    pk: int
    last_used_at: datetime  # as last written (by this process, or read)


@dataclass
class DebugIdRef:
    """An uploaded file of a debug id, without its bytes (apps.errors.symbol_cache)."""

    pk: int
    sha1: str
    headers: dict[str, str]
    bundle: BundleRef


@dataclass
class DebugIdUpload:
    """What a project uploaded for one debug id; `tail` (the minified file's last 4 KiB, where its
    `//# sourceMappingURL=` is) once read."""

    source_map: DebugIdRef | None
    minified: DebugIdRef | None
    tail: bytes | None = None


class DebugIdFiles:
    """The project's uploads of the debug ids an event names, as this process knows them: the ids
    it has not seen under the project's upload epoch in one query (rows without their bytes), the
    files parsed once per content (apps.errors.symbol_cache)."""

    def __init__(self, known: symbol_cache.ProjectFiles, project_id: int, debug_ids: set[uuid.UUID]) -> None:
        self.uploads: dict[uuid.UUID, DebugIdUpload | None] = {}
        missing = []
        for debug_id in debug_ids:
            hit, upload = known.find(("debug_id", debug_id))
            if hit:
                self.uploads[debug_id] = upload
            else:
                missing.append(debug_id)
        if missing:
            for debug_id, upload in _uploads_load(project_id, missing).items():
                known.put(("debug_id", debug_id), upload)
                self.uploads[debug_id] = upload
        self.used: dict[int, BundleRef] = {}

    def minified_tail(self, debug_id: uuid.UUID) -> tuple[bytes, dict[str, str]] | None:
        """The end of the uploaded minified file of a debug id, and its headers (None if not uploaded)."""
        upload = self.uploads.get(debug_id)
        if upload is None or upload.minified is None:
            return None
        if upload.tail is None:
            minified = upload.minified
            data = _data_of(minified)
            if data is None:
                return None
            upload.tail = data[-4096:]
            symbol_cache.parsed.get(
                ("debug_id", minified.pk, minified.sha1, "view"),
                lambda: (SourceView.from_bytes(data), symbol_cache.weight(data, is_map=False)),
            )
        return upload.tail, upload.minified.headers

    def resolve(self, debug_id: uuid.UUID) -> tuple[SourceMapView, SourceView | None, Hashable] | None:
        """The parsed map and minified source (None if not uploaded) of a debug id, and their
        cache keys (what a lookup in them depends on)."""
        upload = self.uploads.get(debug_id)
        if upload is None or upload.source_map is None:
            return None
        map_file, minified = upload.source_map, upload.minified

        def parse_map() -> tuple[SourceMapView, int] | None:
            data = _data_of(map_file)
            return (
                (SourceMapView.from_json_bytes(data), symbol_cache.weight(data, is_map=True))
                if data
                else None
            )

        def parse_view() -> tuple[SourceView, int] | None:
            data = _data_of(minified) if minified is not None else None
            return (SourceView.from_bytes(data), symbol_cache.weight(data, is_map=False)) if data else None

        source_map = symbol_cache.parsed.get(("debug_id", map_file.pk, map_file.sha1, "map"), parse_map)
        if source_map is None:  # replaced meanwhile: the epoch moved, the next batch sees it
            return None
        view = None
        if minified is not None:
            view = symbol_cache.parsed.get(("debug_id", minified.pk, minified.sha1, "view"), parse_view)
        self.used[map_file.bundle.pk] = map_file.bundle
        content = (map_file.pk, map_file.sha1, (minified.pk, minified.sha1) if minified is not None else None)
        return source_map, view, ("debug_id", content)

    def mark_used(self, now: datetime) -> None:
        """Record that the bundles read were used, at most once per USE_RESOLUTION each."""
        stale = [bundle for bundle in self.used.values() if bundle.last_used_at < now - USE_RESOLUTION]
        if stale:
            ArtifactBundle.objects.filter(pk__in=[bundle.pk for bundle in stale]).update(last_used_at=now)
            for bundle in stale:
                bundle.last_used_at = now


def _uploads_load(project_id: int, debug_ids: list[uuid.UUID]) -> dict[uuid.UUID, DebugIdUpload | None]:
    """One indexed query (errors_debug_id_file_unique) for the project's files of these ids."""
    rows = DebugIdFile.objects.filter(project_id=project_id, debug_id__in=debug_ids).values(
        "pk", "debug_id", "file_type", "sha1", "headers", "bundle_id", "bundle__last_used_at"
    )
    bundles: dict[int, BundleRef] = {}
    found: dict[uuid.UUID, dict[str, DebugIdRef]] = {}
    for row in rows:
        bundle = bundles.setdefault(
            row["bundle_id"], BundleRef(row["bundle_id"], row["bundle__last_used_at"])
        )
        ref = DebugIdRef(row["pk"], row["sha1"], row["headers"] or {}, bundle)
        found.setdefault(row["debug_id"], {})[row["file_type"]] = ref
    return {
        debug_id: DebugIdUpload(
            found[debug_id].get(SourceFileType.SOURCE_MAP),
            found[debug_id].get(SourceFileType.MINIFIED_SOURCE),
        )
        if debug_id in found
        else None
        for debug_id in debug_ids
    }


def _data_of(file: DebugIdRef) -> bytes | None:
    """The file's bytes if it still has the content it was looked up with."""
    data = DebugIdFile.objects.filter(pk=file.pk, sha1=file.sha1).values_list("data", flat=True).first()
    return bytes(data) if data is not None else None
