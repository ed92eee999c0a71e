"""Source maps: release files uploaded as sentry-cli does (Sentry's release files API), and the
symbolication of minified JavaScript frames before grouping, so a stack from `main.3f2a.min.js`
line 1 column 48213 groups (and reads) as `src/cart.js` in `checkout` at line 17.

Design note.
* Upload: `POST /api/0/projects/{organization_id}/{project_id}/releases/{version}/files/`,
  multipart `file` + `name` (+ `dist`, `header` "Key:Value"), authenticated by a manage key
  (or an admin's session). A file is named by the URL it is served from; `~/path` means any
  origin, which is what sentry-cli sends by default (`--url-prefix '~/static/js'`).
* Symbolication (`symbolicate`, called once by services.event_row before grouping): for each
  frame with line and column whose file is a `.js`/`.mjs`/`.cjs` URL or is named by the event's
  `debug_meta` sourcemap images, the map is found
  1. by the debug id of the frame's file (apps.errors.debug_ids; no release needed), else
  2. for an event with a release: the minified file by its URL (exact, then `~/path`), its source
     map by the `//# sourceMappingURL=` comment (or a `Sourcemap`/`X-SourceMap` header of the
     upload, or `<file>.map`), resolved against the file's URL; inline `data:` maps work too.
  The token lookup and the original function name come from `symbolic` (Sentry's own Rust
  library); the context lines from the map's `sourcesContent`. The minified position, the map
  and how it was found are kept in the frame's `data`.
* Cost: events without candidate frames pay a loop over their frames; a JS event pays one indexed
  query for its debug ids and/or one for its release's files; each map is parsed once per event.
  Files read get their `last_used_at` bumped (at most daily) for retention (apps.errors.retention).

sentry-cli's default upload (chunk upload + artifact bundle assemble) is apps.errors.artifact_bundles.
Not done (issue 20 §7): fetching maps from the web.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone
from symbolic.sourcemap import SourceMapView, SourceView

from apps.errors.debug_ids import USE_RESOLUTION, DebugIdFiles, images_of
from apps.errors.grouping import exceptions, frames_of
from apps.errors.models import ReleaseFile
from apps.projects.models import Project

logger = logging.getLogger(__name__)
JS_FILE = re.compile(r"\.(?:m|c)?js$")
# The last such comment of the file's tail: `sentry-cli sourcemaps inject` appends `//# debugId=`
# after it, so it is not always the last line.
SOURCE_MAPPING_URL = re.compile(rb"^//[#@]\s*sourceMappingURL=(\S+)\s*$", re.MULTILINE)
CONTEXT = 5
MAX_LINE = 500


class ReleaseFileExists(Exception):
    pass


def release_file_upload(
    project: Project,
    release: str,
    name: str,
    data: bytes,
    dist: str = "",
    headers: dict[str, str] | None = None,
) -> ReleaseFile:
    """Store one file of a release; ReleaseFileExists when the name is taken (Sentry answers 409)."""
    try:
        with transaction.atomic():
            return ReleaseFile.objects.create(
                project=project,
                release=release,
                dist=dist,
                name=name,
                size=len(data),
                sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
                headers=headers or {},
                data=data,
            )
    except IntegrityError:
        raise ReleaseFileExists(f"A file named {name!r} already exists for release {release!r}.") from None


def names_for(url: str) -> list[str]:
    """The release file names a URL may have been uploaded under: itself, then `~/path`."""
    path = urlsplit(url).path if "://" in url else url
    return [url, f"~{path}"] if path.startswith("/") else [url]


@dataclass
class Resolved:
    """What symbolicates a frame: its map (and the URL its sources are relative to), the
    minified file when uploaded (symbolic reads the original function name from it), and how
    the map was found."""

    map_url: str
    source_map: SourceMapView
    minified: SourceView | None
    resolved_with: str  # "debug_id" | "release"
    debug_id: uuid.UUID | None = None


def source_map_reference(data: bytes, headers: dict[str, str]) -> str | None:
    """Where a minified file says its map is: the upload's `Sourcemap`/`X-SourceMap` header,
    else its last `//# sourceMappingURL=` comment."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    reference = lowered.get("sourcemap") or lowered.get("x-sourcemap")
    if reference is None:
        found = SOURCE_MAPPING_URL.findall(data[-4096:])
        reference = found[-1].decode(errors="replace") if found else None
    return reference


class ReleaseFiles:
    """The files of one release, loaded on demand and at most once each."""

    def __init__(self, project_id: int, release: str, dist: str) -> None:
        self.files = ReleaseFile.objects.filter(project_id=project_id, release=release, dist=dist)
        self.loaded: dict[str, ReleaseFile | None] = {}
        self.maps: dict[str, tuple[str, SourceMapView] | None] = {}
        self.views: dict[str, SourceView | None] = {}
        self.used: dict[int, ReleaseFile] = {}
        self.exists: bool | None = None

    def any(self) -> bool:
        if self.exists is None:
            self.exists = self.files.exists()
        return self.exists

    def get(self, url: str) -> ReleaseFile | None:
        if url not in self.loaded:
            candidates = {f.name: f for f in self.files.filter(name__in=names_for(url))}
            self.loaded[url] = next((candidates[n] for n in names_for(url) if n in candidates), None)
        return self.loaded[url]

    def minified(self, url: str) -> SourceView | None:
        if url not in self.views:
            found = self.get(url)
            self.views[url] = SourceView.from_bytes(bytes(found.data)) if found is not None else None
        return self.views[url]

    def source_map(self, url: str) -> tuple[str, SourceMapView] | None:
        """(the map's URL, the parsed map) for the minified file at `url`."""
        if url not in self.maps:
            self.maps[url] = self._load_map(url)
        return self.maps[url]

    def resolve(self, url: str) -> Resolved | None:
        found = self.source_map(url)
        if found is None:
            return None
        for name in (url, found[0]):
            if (file := self.get(name)) is not None:
                self.used[file.pk] = file
        return Resolved(found[0], found[1], self.minified(url), "release")

    def mark_used(self, now: datetime) -> None:
        """Record that these files were read, at most once per USE_RESOLUTION each."""
        stale = [pk for pk, file in self.used.items() if file.last_used_at < now - USE_RESOLUTION]
        if stale:
            ReleaseFile.objects.filter(pk__in=stale).update(last_used_at=now)

    def _load_map(self, url: str) -> tuple[str, SourceMapView] | None:
        minified = self.get(url)
        reference = source_map_reference(bytes(minified.data), minified.headers) if minified else None
        if reference and reference.startswith("data:"):
            return url, SourceMapView.from_json_bytes(_data_url(reference))
        map_url = urljoin(url, reference) if reference else f"{url}.map"
        map_file = self.get(map_url)
        if map_file is None:
            return None
        return map_url, SourceMapView.from_json_bytes(bytes(map_file.data))


def _by_debug_id(url: str, debug_id: uuid.UUID, files: DebugIdFiles) -> Resolved | None:
    found = files.resolve(debug_id)
    if found is None:
        return None
    source_map, minified_view = found
    # As symbolicator-js: sources are relative to the map's URL as the minified file names it,
    # else to the minified file itself.
    minified = files.minified(debug_id)
    reference = source_map_reference(bytes(minified.data), minified.headers) if minified else None
    map_url = urljoin(url, reference) if reference and not reference.startswith("data:") else url
    return Resolved(map_url, source_map, minified_view, "debug_id", debug_id)


def _data_url(url: str) -> bytes:
    meta, _, payload = url.partition(",")
    return base64.b64decode(payload) if meta.endswith(";base64") else unquote(payload).encode()


def _url_of(frame: dict[str, Any]) -> str:
    return str(frame.get("abs_path") or frame.get("filename")).split("?", 1)[0].split("#", 1)[0]


def _debug_id_for(frame: dict[str, Any], images: dict[str, uuid.UUID]) -> uuid.UUID | None:
    """The debug id of the frame's file: SDKs name it by the frame's abs_path, else filename."""
    for key in ("abs_path", "filename"):
        value = frame.get(key)
        if isinstance(value, str) and value in images:
            return images[value]
    return None


def _is_candidate(frame: dict[str, Any], images: dict[str, uuid.UUID]) -> bool:
    url = frame.get("abs_path") or frame.get("filename")
    return (
        isinstance(url, str)
        and (bool(JS_FILE.search(_url_of(frame))) or _debug_id_for(frame, images) is not None)
        and isinstance(frame.get("lineno"), int)
        and isinstance(frame.get("colno"), int)
        and frame["lineno"] > 0
        and frame["colno"] > 0
    )


def _line(view: SourceView | None, index: int) -> str | None:
    if view is None or not 0 <= index < len(view):
        return None
    return view[index][:MAX_LINE]


def _symbolicate_frame(frame: dict[str, Any], resolved: Resolved) -> None:
    map_url, source_map, minified_view = resolved.map_url, resolved.source_map, resolved.minified
    function = frame.get("function") if isinstance(frame.get("function"), str) else None
    token = source_map.lookup(
        frame["lineno"] - 1, frame["colno"] - 1, function if minified_view else None, minified_view
    )
    if token is None or token.src is None:
        return
    minified = {k: frame.get(k) for k in ("abs_path", "filename", "lineno", "colno", "function", "module")}
    data = frame.get("data")
    data = data if isinstance(data, dict) else {}
    frame["data"] = {
        **data,
        "sourcemap": map_url,
        "symbolicated": True,
        "resolved_with": resolved.resolved_with,
        "minified": minified,
    }
    if resolved.debug_id is not None:
        frame["data"]["debug_id"] = str(resolved.debug_id)
    frame.pop("module", None)  # the bundle's module name; the original file names the frame now
    frame["abs_path"] = urljoin(map_url, token.src)
    frame["filename"] = token.src
    frame["lineno"] = token.src_line + 1
    frame["colno"] = token.src_col + 1
    if token.function_name:
        frame["function"] = token.function_name
    if "node_modules/" in token.src:
        frame["in_app"] = False
    sources = source_map.get_sourceview(token.src_id) if token.src_id is not None else None
    line = token.src_line
    frame["context_line"] = _line(sources, line)
    frame["pre_context"] = [
        t for i in range(max(0, line - CONTEXT), line) if (t := _line(sources, i)) is not None
    ]
    frame["post_context"] = [
        t for i in range(line + 1, line + 1 + CONTEXT) if (t := _line(sources, i)) is not None
    ]


def symbolicate(project_id: int, event: dict[str, Any]) -> dict[str, Any]:
    """The event with its minified JS frames replaced by their original ones (in place: the
    payload was parsed for this call). Frames without an uploaded map stay as they are."""
    images = images_of(event)
    candidates = [
        (f, _debug_id_for(f, images))
        for exception in exceptions(event)
        for f in frames_of(exception)
        if _is_candidate(f, images)
    ]
    if not candidates:
        return event
    debug_ids = {debug_id for _, debug_id in candidates if debug_id is not None}
    by_debug_id = DebugIdFiles(project_id, debug_ids) if debug_ids else None
    release, dist = event.get("release"), event.get("dist")
    dist = dist if isinstance(dist, str) else ""
    # Its files are asked for only when a frame is not resolved by debug id.
    by_release = ReleaseFiles(project_id, release, dist) if isinstance(release, str) and release else None
    if by_debug_id is None and (by_release is None or not by_release.any()):
        return event
    for frame, debug_id in candidates:
        try:
            resolved = None
            if by_debug_id is not None and debug_id is not None:
                resolved = _by_debug_id(_url_of(frame), debug_id, by_debug_id)
            if resolved is None and by_release is not None and by_release.any():
                resolved = by_release.resolve(_url_of(frame))
            if resolved is not None:
                _symbolicate_frame(frame, resolved)
        except Exception:  # a broken upload (symbolic's parse errors, bad base64) keeps the frame
            logger.info("source map for %r unusable", frame.get("abs_path"), exc_info=True)
    now = timezone.now()
    for files in (by_debug_id, by_release):
        if files is not None:
            files.mark_used(now)
    return event
