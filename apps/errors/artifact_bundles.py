"""sentry-cli's default source map upload: chunk upload + artifact bundle assemble.

`sentry-cli sourcemaps upload --release R dist/` asks `GET …/organizations/{org}/chunk-upload/`
for the server's chunk options, zips the files with a `manifest.json` (an artifact bundle),
asks `POST …/organizations/{org}/artifactbundle/assemble/` which of the bundle's chunks (sha1 of
each) the server lacks, uploads those (multipart `file` or gzipped `file_gzip`, each named by its
sha1) and asks to assemble again. Assembling joins the chunks, checks the whole bundle's sha1 and
stores the bundle's files for each project:
* with a release (`--release`, or the manifest's): each file as a release file
  (apps.errors.sourcemaps), named by its URL, with its headers (sentry-cli's `Sourcemap` header
  names the map of a minified file);
* files with a `debug-id` header (after `sentry-cli sourcemaps inject`): by their debug id, under
  an ArtifactBundle (apps.errors.debug_ids), release or not.
A bundle with neither is refused with a clear detail.

Chunks are content-addressed per organization; they are deleted once assembled, and chunks never
assembled are deleted by the hourly retention task after SOURCEMAP_CHUNK_RETENTION_HOURS.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction

from apps.errors.debug_ids import BundledFile, debug_id_files_store, has_debug_ids
from apps.errors.models import FileChunk
from apps.errors.sourcemaps import ReleaseFileExists, release_file_replace, release_file_upload
from apps.projects.models import Organization, Project

CHUNK_SIZE = 8 * 1024 * 1024
CHUNKS_PER_REQUEST = 64
MAX_REQUEST_SIZE = 32 * 1024 * 1024
MAX_BUNDLE_MEMBERS = 10_000


class ChunkRefused(ValueError):
    pass


@dataclass
class Assembly:
    state: str  # "ok" | "not_found" (chunks missing) | "error"
    missing: list[str] = field(default_factory=list)
    detail: str | None = None
    stored: int = 0


def chunk_options(url: str, max_file_size: int) -> dict[str, Any]:
    """What `GET chunk-upload/` answers (sentry-cli reads every field)."""
    return {
        "url": url,
        "chunkSize": CHUNK_SIZE,
        "chunksPerRequest": CHUNKS_PER_REQUEST,
        "maxFileSize": max_file_size,
        "maxRequestSize": MAX_REQUEST_SIZE,
        "concurrency": 1,
        "hashAlgorithm": "sha1",
        "compression": ["gzip"],
        "accept": ["artifact_bundles", "release_files", "sources"],
    }


def chunks_store(organization: Organization, chunks: list[tuple[str, bytes, bool]]) -> int:
    """Store uploaded chunks (name = its sha1, bytes, gzipped?); ChunkRefused when a chunk's
    content does not match its name. Chunks already held are skipped."""
    stored = 0
    for name, raw, gzipped in chunks:
        try:
            data = gzip.decompress(raw) if gzipped else raw
        except (OSError, EOFError):
            raise ChunkRefused(f"Chunk {name[:40]!r} is not valid gzip.") from None
        if len(data) > CHUNK_SIZE:
            raise ChunkRefused(f"Chunk {name[:40]!r} is larger than {CHUNK_SIZE} bytes.")
        checksum = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        if checksum != name.lower():
            raise ChunkRefused(f"Chunk {name[:40]!r} does not match its content (sha1 {checksum}).")
        try:
            with transaction.atomic():
                FileChunk.objects.create(organization=organization, checksum=checksum, data=data)
                stored += 1
        except IntegrityError:
            pass  # a retry, or the same chunk in two bundles
    return stored


def bundle_assemble(
    organization: Organization,
    projects: list[Project],
    checksum: str,
    chunks: list[str],
    release: str,
    dist: str,
) -> Assembly:
    held = dict(
        FileChunk.objects.filter(organization=organization, checksum__in=chunks).values_list(
            "checksum", "data"
        )
    )
    missing = [c for c in chunks if c not in held]
    if missing:
        return Assembly("not_found", missing)
    bundle = b"".join(bytes(held[c]) for c in chunks)
    if hashlib.sha1(bundle, usedforsecurity=False).hexdigest() != checksum.lower():
        return Assembly("error", detail="The chunks do not add up to the bundle's checksum.")
    try:
        files, manifest = _bundle_files(bundle)
    except (zipfile.BadZipFile, KeyError, ValueError, orjson.JSONDecodeError) as exc:
        return Assembly("error", detail=f"Not an artifact bundle: {exc}")
    release = release or _text(manifest.get("release"), 200)
    dist = dist or _text(manifest.get("dist"), 64)
    if not release and not has_debug_ids(files):
        return Assembly(
            "error",
            detail="Name a release (--release), or inject debug ids first (sentry-cli sourcemaps inject).",
        )
    stored = debug_id_files_store(
        projects, _text(manifest.get("debug_id"), 64) or checksum.lower(), release, dist, files
    )
    if release:
        stored += _release_files_store(projects, release, dist, files)
    FileChunk.objects.filter(organization=organization, checksum__in=chunks).delete()
    return Assembly("ok", stored=stored)


def _release_files_store(projects: list[Project], release: str, dist: str, files: list[BundledFile]) -> int:
    stored = 0
    for project in projects:
        for file in files:
            try:
                release_file_upload(project, release, file.url, file.data, dist, file.headers)
                stored += 1
            except ReleaseFileExists:
                # The same bundle assembled again (sentry-cli retries), or a rebuild under the same
                # release: keep the newest bytes.
                release_file_replace(project, release, file.url, file.data, dist, file.headers)
    return stored


def _text(value: Any, limit: int) -> str:
    return value[:limit].replace("\x00", "") if isinstance(value, str) else ""


def _bundle_files(bundle: bytes) -> tuple[list[BundledFile], dict[str, Any]]:
    """The files of the bundle's manifest (one per URL), and the manifest."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        manifest = orjson.loads(archive.read("manifest.json"))
        entries = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(entries, dict) or len(entries) > MAX_BUNDLE_MEMBERS:
            raise ValueError("manifest.json lists no files")
        files: dict[str, BundledFile] = {}
        for path, info in entries.items():
            if not isinstance(info, dict) or not isinstance(info.get("url"), str):
                continue
            headers = info.get("headers")
            headers = headers if isinstance(headers, dict) else {}
            if archive.getinfo(path).file_size > settings.SOURCEMAP_MAX_BYTES:  # a zip bomb, or too big
                raise ValueError(f"{path[:100]} is larger than {settings.SOURCEMAP_MAX_BYTES} bytes")
            url = _text(info["url"], 500)
            files[url] = BundledFile(
                url=url,
                data=archive.read(path),
                headers={_text(str(k), 100): _text(str(v), 1000) for k, v in headers.items()},
                file_type=_text(info.get("type"), 32),
            )
        return list(files.values()), manifest
