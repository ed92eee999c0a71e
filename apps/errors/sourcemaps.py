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
* Cost: events without candidate frames pay a loop over their frames. What a project uploaded
  (which release has files, which file a URL names, the files of a debug id) and the parsed maps
  and minified files are remembered per process (apps.errors.symbol_cache): a JS event whose
  files were seen — or whose release has none — pays no query and no parse, and a stack seen
  before no lookup either; an upload is seen from the next event on (the project's upload epoch).
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
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from symbolic.sourcemap import SourceMapView, SourceView

from apps.errors import symbol_cache
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
            stored = ReleaseFile.objects.create(
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
    symbol_cache.uploads_changed([project.pk])
    return stored


def release_file_replace(
    project: Project,
    release: str,
    name: str,
    data: bytes,
    dist: str = "",
    headers: dict[str, str] | None = None,
) -> int:
    """Give an uploaded file new bytes (an artifact bundle assembled again); how many rows changed."""
    replaced = ReleaseFile.objects.filter(project=project, release=release, dist=dist, name=name).update(
        data=data,
        size=len(data),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),  # the cache's key of its parse
        headers=headers or {},
    )
    symbol_cache.uploads_changed([project.pk])
    return replaced


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
    content: Hashable  # the cache keys of the map and the minified file: what the lookup depends on
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


@dataclass
class ReleaseFileRef:
    """A release file as symbolication needs it, without its bytes (apps.errors.symbol_cache)."""

    pk: int
    sha1: str
    headers: dict[str, str]
    last_used_at: datetime  # as last written (by this process, or read)


@dataclass(frozen=True)
class MapPlace:
    """Where the map of a minified file is: its URL, and the file it is in — the map file, or the
    minified file itself for an inline `data:` map."""

    map_url: str
    map_file: ReleaseFileRef
    is_inline: bool
    minified: ReleaseFileRef | None


class ReleaseFiles:
    """The files of one release, as this process knows them (apps.errors.symbol_cache): a name is
    looked up once, a release without files is asked about once, a file is parsed once."""

    def __init__(self, files: symbol_cache.ProjectFiles, project_id: int, release: str, dist: str) -> None:
        self.known = files
        self.project_id, self.release, self.dist = project_id, release, dist
        self.used: dict[int, ReleaseFileRef] = {}

    def _rows(self) -> QuerySet[ReleaseFile]:
        return ReleaseFile.objects.filter(project_id=self.project_id, release=self.release, dist=self.dist)

    def any(self) -> bool:
        return self.known.get(("release", self.release, self.dist), lambda: self._rows().exists())

    def get(self, url: str) -> ReleaseFileRef | None:
        return self.known.get(("name", self.release, self.dist, url), lambda: self._load(url))

    def _load(self, url: str) -> ReleaseFileRef | None:
        names = names_for(url)
        rows = self._rows().filter(name__in=names).values("pk", "name", "sha1", "headers", "last_used_at")
        found = {row["name"]: row for row in rows}
        row = next((found[n] for n in names if n in found), None)
        if row is None:
            return None
        return ReleaseFileRef(row["pk"], row["sha1"], row["headers"] or {}, row["last_used_at"])

    def resolve(self, url: str) -> Resolved | None:
        place = self.known.get(("map", self.release, self.dist, url), lambda: self._find_map(url))
        if place is None:
            return None
        map_file = place.map_file
        map_key = ("release", map_file.pk, map_file.sha1, "inline map" if place.is_inline else "map")
        if place.is_inline:
            source_map = symbol_cache.parsed.get(map_key, lambda: _parse_inline(map_file))
        else:
            source_map = symbol_cache.parsed.get(map_key, lambda: _parse_map(_data_of(map_file)))
        if source_map is None:  # replaced or deleted meanwhile: the epoch moved, the next batch sees it
            return None
        minified = place.minified
        view = _minified_view(minified) if minified is not None else None
        for file in (minified, map_file):
            if file is not None:
                self.used[file.pk] = file
        content = (map_key, (minified.pk, minified.sha1) if minified is not None else None)
        return Resolved(place.map_url, source_map, view, "release", content)

    def mark_used(self, now: datetime) -> None:
        """Record that these files were read, at most once per USE_RESOLUTION each."""
        stale = [file for file in self.used.values() if file.last_used_at < now - USE_RESOLUTION]
        if stale:
            ReleaseFile.objects.filter(pk__in=[file.pk for file in stale]).update(last_used_at=now)
            for file in stale:
                file.last_used_at = now

    def _find_map(self, url: str) -> MapPlace | None:
        minified = self.get(url)
        reference = None
        if minified is not None and (data := _data_of(minified)) is not None:
            reference = source_map_reference(data, minified.headers)
            # The view is needed for the function names anyway: parse it from the bytes read here.
            symbol_cache.parsed.get(
                ("release", minified.pk, minified.sha1, "view"),
                lambda: (SourceView.from_bytes(data), symbol_cache.weight(data, is_map=False)),
            )
        if minified is not None and reference and reference.startswith("data:"):
            return MapPlace(url, minified, True, minified)
        map_url = urljoin(url, reference) if reference else f"{url}.map"
        map_file = self.get(map_url)
        return MapPlace(map_url, map_file, False, minified) if map_file is not None else None


def _data_of(file: ReleaseFileRef) -> bytes | None:
    """The file's bytes if it still has the content it was looked up with."""
    data = ReleaseFile.objects.filter(pk=file.pk, sha1=file.sha1).values_list("data", flat=True).first()
    return bytes(data) if data is not None else None


def _parse_map(data: bytes | None) -> tuple[SourceMapView, int] | None:
    if data is None:
        return None
    return SourceMapView.from_json_bytes(data), symbol_cache.weight(data, is_map=True)


def _parse_inline(minified: ReleaseFileRef) -> tuple[SourceMapView, int] | None:
    data = _data_of(minified)
    reference = source_map_reference(data, minified.headers) if data is not None else None
    return _parse_map(_data_url(reference)) if reference and reference.startswith("data:") else None


def _minified_view(file: ReleaseFileRef) -> SourceView | None:
    def parse() -> tuple[SourceView, int] | None:
        data = _data_of(file)
        return (
            (SourceView.from_bytes(data), symbol_cache.weight(data, is_map=False))
            if data is not None
            else None
        )

    return symbol_cache.parsed.get(("release", file.pk, file.sha1, "view"), parse)


def _by_debug_id(url: str, debug_id: uuid.UUID, files: DebugIdFiles) -> Resolved | None:
    # As symbolicator-js: sources are relative to the map's URL as the minified file names it,
    # else to the minified file itself.
    tail = files.minified_tail(debug_id)
    found = files.resolve(debug_id)
    if found is None:
        return None
    source_map, minified_view, content = found
    reference = source_map_reference(*tail) if tail is not None else None
    map_url = urljoin(url, reference) if reference and not reference.startswith("data:") else url
    return Resolved(map_url, source_map, minified_view, "debug_id", content, debug_id)


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
    # The position first: it costs two lookups, and a Python frame has no column, which spares
    # every frame of most events the URL's regex and the debug id's lookup.
    lineno, colno = frame.get("lineno"), frame.get("colno")
    if not (isinstance(lineno, int) and isinstance(colno, int) and lineno > 0 and colno > 0):
        return False
    url = frame.get("abs_path") or frame.get("filename")
    return isinstance(url, str) and (
        bool(JS_FILE.search(_url_of(frame))) or _debug_id_for(frame, images) is not None
    )


def _line(view: SourceView | None, index: int) -> str | None:
    if view is None or not 0 <= index < len(view):
        return None
    return view[index][:MAX_LINE]


def _original(
    resolved: Resolved, lineno: int, colno: int, function: str | None
) -> tuple[dict[str, Any], int]:
    """What a frame at this minified position takes from the map ({} if the map has no token
    there), and about the memory that takes."""
    source_map, minified_view = resolved.source_map, resolved.minified
    token = source_map.lookup(lineno - 1, colno - 1, function if minified_view else None, minified_view)
    if token is None or token.src is None:
        return {}, 64
    original: dict[str, Any] = {
        "abs_path": urljoin(resolved.map_url, token.src),
        "filename": token.src,
        "lineno": token.src_line + 1,
        "colno": token.src_col + 1,
    }
    if token.function_name:
        original["function"] = token.function_name
    if "node_modules/" in token.src:
        original["in_app"] = False
    sources = source_map.get_sourceview(token.src_id) if token.src_id is not None else None
    line = token.src_line
    original["context_line"] = _line(sources, line)
    original["pre_context"] = [
        t for i in range(max(0, line - CONTEXT), line) if (t := _line(sources, i)) is not None
    ]
    original["post_context"] = [
        t for i in range(line + 1, line + 1 + CONTEXT) if (t := _line(sources, i)) is not None
    ]
    texts = [
        original["abs_path"],
        original["context_line"] or "",
        *original["pre_context"],
        *original["post_context"],
    ]
    return original, 512 + sum(len(text) for text in texts)


def _symbolicate_frame(frame: dict[str, Any], resolved: Resolved) -> None:
    function = frame.get("function") if isinstance(frame.get("function"), str) else None
    lineno, colno = frame["lineno"], frame["colno"]
    # symbolic's lookup with the minified source (for the original function name) scans that
    # source: ~0.4 ms a frame on a 400 KB bundle. A stack seen again (most events) reuses it.
    key = (
        "frame",
        resolved.content,
        resolved.map_url,
        lineno,
        colno,
        function if resolved.minified else None,
    )
    original = symbol_cache.parsed.get(key, lambda: _original(resolved, lineno, colno, function))
    if not original:
        return
    minified = {k: frame.get(k) for k in ("abs_path", "filename", "lineno", "colno", "function", "module")}
    data = frame.get("data")
    data = data if isinstance(data, dict) else {}
    frame["data"] = {
        **data,
        "sourcemap": resolved.map_url,
        "symbolicated": True,
        "resolved_with": resolved.resolved_with,
        "minified": minified,
    }
    if resolved.debug_id is not None:
        frame["data"]["debug_id"] = str(resolved.debug_id)
    frame.pop("module", None)  # the bundle's module name; the original file names the frame now
    frame.update(original)
    # (cached and shared by the events of this stack: each event gets lists of its own)
    frame["pre_context"] = list(original["pre_context"])
    frame["post_context"] = list(original["post_context"])


class NeedsLookup(Exception):
    """`symbolicate(..., lookups=False)` met a frame to symbolicate: it needs the caches' I/O."""


def symbolicate(project_id: int, event: dict[str, Any], lookups: bool = True) -> symbol_cache.Epoch | None:
    """Replace the event's minified JS frames by their original ones, in place (the payload was
    parsed for this call); frames without an uploaded map stay as they are. Returns the project's
    upload epoch the symbolication relied on (apps.errors.symbol_cache), None if the event has no
    frame to symbolicate. Without `lookups` (a caller that must not wait for Redis or PostgreSQL),
    an event with such a frame raises NeedsLookup, before anything is changed."""
    images = images_of(event)
    candidates = [
        (f, _debug_id_for(f, images))
        for exception in exceptions(event)
        for f in frames_of(exception)
        if "colno" in f and _is_candidate(f, images)  # (no column: no minified position, e.g. Python)
    ]
    if not candidates:
        return None
    if not lookups:
        raise NeedsLookup
    known = symbol_cache.uploads.files_of(project_id)
    debug_ids = {debug_id for _, debug_id in candidates if debug_id is not None}
    by_debug_id = DebugIdFiles(known, project_id, debug_ids) if debug_ids else None
    release, dist = event.get("release"), event.get("dist")
    dist = dist if isinstance(dist, str) else ""
    # Its files are asked for only when a frame is not resolved by debug id.
    by_release = (
        ReleaseFiles(known, project_id, release, dist) if isinstance(release, str) and release else None
    )
    if by_debug_id is None and (by_release is None or not by_release.any()):
        return known.epoch
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
    return known.epoch
