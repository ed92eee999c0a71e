"""Reading a request body safely: byte caps before and after decompression.

The compressed cap is checked against Content-Length when there is one and against the bytes
actually read otherwise (OTel JS exporters send `Transfer-Encoding: chunked`, no length).
Inflation is streamed with `max_length`, so a gzip bomb costs at most the decompressed cap
in memory before it is refused with 413.
"""

from __future__ import annotations

import zlib

from django.conf import settings
from django.utils.http import parse_header_parameters

from apps.ingestion.errors import IngestError
from apps.ingestion.messages import IngestRequest


def max_body_bytes() -> int:
    return int(settings.INGEST_MAX_BODY_BYTES)


def max_decompressed_bytes() -> int:
    return int(settings.INGEST_MAX_DECOMPRESSED_BYTES)


def media_type(header: str) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return header.split(";", 1)[0].strip().lower()


def charset(header: str) -> str:
    """`application/json; charset=UTF-16` -> `utf-16`; "" when the header names none."""
    return parse_header_parameters(header)[1].get("charset", "").strip().lower()


def declared_length(header: str) -> int | None:
    """A Content-Length header's value, or None when absent or not a plain ASCII number."""
    return int(header) if header.isascii() and header.isdigit() else None


def read_body(request: IngestRequest) -> bytes:
    """The decompressed body, or IngestError 413/415/400. The transport read at most the cap + 1
    bytes into `request.body` (apps.ingestion.asgi, apps.ingestion.views)."""
    encoding = request.content_encoding
    if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
        raise IngestError(415, f"Unsupported Content-Encoding {encoding!r}; use gzip or none.")
    limit = max_body_bytes()
    declared = declared_length(request.content_length)
    if declared is not None and declared > limit:
        raise IngestError(413, f"Body larger than {limit} bytes.", {"limit": limit})
    raw = request.body
    if len(raw) > limit:
        raise IngestError(413, f"Body larger than {limit} bytes.", {"limit": limit})
    if encoding in ("gzip", "x-gzip"):
        return inflate(raw, zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return inflate(raw, zlib.MAX_WBITS)
    return raw


def inflate(raw: bytes, wbits: int) -> bytes:
    """Every member of a gzip body (`cat a.gz b.gz`, some HTTP clients and streaming compressors
    send several; stopping after the first would drop acknowledged records), each streamed under one
    shared decompressed cap. Input is fed in slices: at the end of each member zlib copies the input
    it has not used, and a 5 MiB body of 20-byte empty members would otherwise copy megabytes per
    member. Zero padding after the last member is ignored (as gzip(1) does); other trailing bytes
    are a 400, never silently dropped."""
    limit = max_decompressed_bytes()
    view = memoryview(raw)
    parts: list[bytes] = []
    pending: bytes | memoryview = b""  # input of the current member not yet fed to zlib
    position, size, member_start = 0, 0, 0
    inflater, started = zlib.decompressobj(wbits), False
    while True:
        if not pending:
            if position >= len(raw):
                break
            pending, position = view[position : position + _INFLATE_SLICE], position + _INFLATE_SLICE
        try:
            data = inflater.decompress(pending, limit - size + 1)
        except zlib.error as exc:
            if parts and not started and not bytes(view[member_start:]).strip(b"\0"):
                return b"".join(parts)  # zero padding after the last member
            raise IngestError(400, f"Malformed compressed body: {exc}.") from None
        started = True
        size += len(data)
        parts.append(data)
        if size > limit:
            raise IngestError(413, f"Decompressed body larger than {limit} bytes.", {"limit": limit})
        if inflater.eof:
            pending = inflater.unused_data
            member_start = min(position, len(raw)) - len(pending)
            inflater, started = zlib.decompressobj(wbits), False
        else:
            pending = inflater.unconsumed_tail
    if started:
        raise IngestError(400, "Truncated compressed body.")
    if not parts:
        raise IngestError(400, "Truncated compressed body.")  # an empty body is not a compressed one
    return b"".join(parts)


_INFLATE_SLICE = 16 * 1024
