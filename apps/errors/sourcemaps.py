"""Source maps: release files uploaded as sentry-cli does (Sentry's release files API), and the
symbolication of minified JavaScript frames before grouping, so a stack from `main.3f2a.min.js`
line 1 column 48213 groups (and reads) as `src/cart.js` in `checkout` at line 17.

Design note.
* Upload: `POST /api/0/projects/{organization_id}/{project_id}/releases/{version}/files/`,
  multipart `file` + `name` (+ `dist`, `header` "Key:Value"), authenticated by a manage key
  (or an admin's session). A file is named by the URL it is served from; `~/path` means any
  origin, which is what sentry-cli sends by default (`--url-prefix '~/static/js'`).
* Symbolication (`symbolicate`, called once by services.event_store before grouping): for each
  frame of an event with a release whose file is a `.js`/`.mjs`/`.cjs` URL with line and column,
  the minified file is looked up by its URL (exact, then `~/path`), its source map by the
  `//# sourceMappingURL=` comment (or a `Sourcemap`/`X-SourceMap` header of the upload, or
  `<file>.map`), resolved against the file's URL; inline `data:` maps work too. The token lookup
  and the original function name come from `symbolic` (Sentry's own Rust library); the context
  lines from the map's `sourcesContent`. The minified position is kept in the frame's `data`.
* Cost: events without candidate frames pay a loop over their frames; a JS event of a release
  without files pays one indexed query; each map is parsed once per event.

sentry-cli's default upload (chunk upload + artifact bundle assemble) is apps.errors.artifact_bundles;
it ends in release files too. Not done (issue 20 §7): debug-id matching (bundles must name a
release), fetching maps from the web, retention of release files.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from django.db import IntegrityError, transaction
from symbolic.sourcemap import SourceMapView, SourceView

from apps.errors.grouping import exceptions, frames_of
from apps.errors.models import ReleaseFile
from apps.projects.models import Project

logger = logging.getLogger(__name__)
JS_FILE = re.compile(r"\.(?:m|c)?js$")
SOURCE_MAPPING_URL = re.compile(rb"//[#@]\s*sourceMappingURL=(\S+)\s*$")
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


class ReleaseFiles:
    """The files of one release, loaded on demand and at most once each."""

    def __init__(self, project_id: int, release: str, dist: str) -> None:
        self.files = ReleaseFile.objects.filter(project_id=project_id, release=release, dist=dist)
        self.loaded: dict[str, ReleaseFile | None] = {}
        self.maps: dict[str, tuple[str, SourceMapView] | None] = {}
        self.views: dict[str, SourceView | None] = {}

    def any(self) -> bool:
        return self.files.exists()

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

    def _load_map(self, url: str) -> tuple[str, SourceMapView] | None:
        minified = self.get(url)
        reference = None
        if minified is not None:
            headers = {k.lower(): v for k, v in (minified.headers or {}).items()}
            reference = headers.get("sourcemap") or headers.get("x-sourcemap")
            if reference is None:
                tail = bytes(minified.data)[-4096:].rstrip().rsplit(b"\n", 1)[-1]
                found = SOURCE_MAPPING_URL.search(tail)
                reference = found.group(1).decode(errors="replace") if found else None
        if reference and reference.startswith("data:"):
            return url, SourceMapView.from_json_bytes(_data_url(reference))
        map_url = urljoin(url, reference) if reference else f"{url}.map"
        map_file = self.get(map_url)
        if map_file is None:
            return None
        return map_url, SourceMapView.from_json_bytes(bytes(map_file.data))


def _data_url(url: str) -> bytes:
    meta, _, payload = url.partition(",")
    return base64.b64decode(payload) if meta.endswith(";base64") else unquote(payload).encode()


def _is_candidate(frame: dict[str, Any]) -> bool:
    url = frame.get("abs_path") or frame.get("filename")
    return (
        isinstance(url, str)
        and bool(JS_FILE.search(url.split("?", 1)[0].split("#", 1)[0]))
        and isinstance(frame.get("lineno"), int)
        and isinstance(frame.get("colno"), int)
        and frame["lineno"] > 0
        and frame["colno"] > 0
    )


def _line(view: SourceView | None, index: int) -> str | None:
    if view is None or not 0 <= index < len(view):
        return None
    return view[index][:MAX_LINE]


def _symbolicate_frame(frame: dict[str, Any], files: ReleaseFiles) -> None:
    url = str(frame.get("abs_path") or frame.get("filename")).split("?", 1)[0].split("#", 1)[0]
    found = files.source_map(url)
    if found is None:
        return
    map_url, source_map = found
    function = frame.get("function") if isinstance(frame.get("function"), str) else None
    minified_view = files.minified(url)
    token = source_map.lookup(
        frame["lineno"] - 1, frame["colno"] - 1, function if minified_view else None, minified_view
    )
    if token is None or token.src is None:
        return
    minified = {k: frame.get(k) for k in ("abs_path", "filename", "lineno", "colno", "function", "module")}
    data = frame.get("data")
    data = data if isinstance(data, dict) else {}
    frame["data"] = {**data, "sourcemap": map_url, "symbolicated": True, "minified": minified}
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
    release = event.get("release")
    if not isinstance(release, str) or not release:
        return event
    candidates = [f for exception in exceptions(event) for f in frames_of(exception) if _is_candidate(f)]
    if not candidates:
        return event
    dist = event.get("dist") if isinstance(event.get("dist"), str) else ""
    files = ReleaseFiles(project_id, release, dist or "")
    if not files.any():
        return event
    for frame in candidates:
        try:
            _symbolicate_frame(frame, files)
        except Exception:  # a broken upload (symbolic's parse errors, bad base64) keeps the frame
            logger.info("source map for %r unusable", frame.get("abs_path"), exc_info=True)
    return event
