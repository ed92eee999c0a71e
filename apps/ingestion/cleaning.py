"""Per-record limits and text hygiene, applied to every record before storage.

- Messages over INGEST_MAX_MESSAGE_BYTES (64 KiB) and string values over INGEST_MAX_VALUE_BYTES
  are truncated, and the record is flagged with the attribute `vigil.truncated = true`.
- At most INGEST_MAX_ATTRIBUTES keys per map (extra keys are dropped and counted in
  `vigil.dropped_attributes`), keys cut to INGEST_MAX_KEY_BYTES, nesting cut at MAX_DEPTH.
- PostgreSQL rejects NUL in text and jsonb, and lone surrogates cannot be encoded in UTF-8:
  both are stored escaped as the six characters `\\u0000` / `\\udXXX` instead of failing the batch.
- Non-finite floats become the strings "NaN", "Infinity", "-Infinity" (jsonb has no such numbers);
  integers outside 64 bits become strings (the JSON encoder refuses them).
- Redaction (apps.ingestion.redaction) runs here, so there is one walk per record.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from django.conf import settings

from apps.ingestion.redaction import REDACTED, Redactor

MAX_DEPTH = 16
MAX_ARRAY_ITEMS = 1000
DEPTH_LIMIT_MARKER = "[depth limit]"
_SURROGATE = re.compile("[\ud800-\udfff]")
T = TypeVar("T")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group(0)):04x}"


def _cut_utf8(value: str, limit: int) -> str:
    # Cut on a byte budget without splitting a character.
    return value.encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")


class Cleaner:
    """One per request: holds the limits, the project's redactor and the current record's flags."""

    def __init__(self, redactor: Redactor, check_surrogates: bool = False, clean_body: bytes = b"") -> None:
        self.redactor = redactor
        self.check_surrogates = check_surrogates
        # `clean_body`: the request body when its text is stored verbatim (protobuf strings are
        # UTF-8 slices of it). If the redactor's quick check clears the whole body, no text cut
        # from it can need masking: one check per request instead of two per record.
        self.body_is_clean = bool(clean_body) and not redactor.may_match_bytes(clean_body)
        # Records of short plain values that the redactor's quick check clears skip the per-value
        # walk and regex scans: the hot path's main cost. Surrogate checking needs the walk.
        self.is_fast = not check_surrogates
        self.plain_keys: dict[str, bool] = {}  # is_plain_key's memo
        self.max_message = settings.INGEST_MAX_MESSAGE_BYTES
        self.max_value = settings.INGEST_MAX_VALUE_BYTES
        self.max_key = settings.INGEST_MAX_KEY_BYTES
        self.max_attributes = settings.INGEST_MAX_ATTRIBUTES
        self.truncated = False
        self.dropped = 0
        self._deferred: tuple[list[str], list[bytes]] | None = None

    def optimistically(self, decode: Callable[[], T]) -> T:
        """Run `decode` with the redactor's quick check of fast-path texts deferred to one check
        over all of them: a batch with no secret (nearly every batch) pays one scan instead of two
        per record. A batch that fails it is decoded again, record by record, as without this.
        Joining with "\n" changes no verdict: it is in none of the quick check's needles and ends
        any digit run (Redactor.may_match_bytes)."""
        texts: list[str] = []
        blobs: list[bytes] = []
        self._deferred = texts, blobs
        try:
            result = decode()
        finally:
            self._deferred = None
        if self.may_need_masking("\n".join(texts), b"\n".join(blobs)):
            return decode()
        return result

    def may_need_masking(self, texts: str, blobs: bytes) -> bool:
        """The redactor's quick check of a batch's texts and attribute JSON, each joined with "\n"."""
        return self.redactor.may_match(texts) or self.redactor.may_match_bytes(blobs)

    def text(self, value: str, limit: int) -> str:
        # len() counts characters, each at most 4 bytes: only long strings pay for encoding.
        if len(value) * 4 > limit and len(value.encode("utf-8", "surrogatepass")) > limit:
            value = _cut_utf8(value, limit)
            self.truncated = True
        if "\x00" in value:
            value = value.replace("\x00", "\\u0000")
        if self.check_surrogates and _SURROGATE.search(value):
            value = _SURROGATE.sub(_escape_surrogate, value)
        return self.redactor.text(value)

    def message(self, value: str, verbatim: bool = False) -> str:
        """`verbatim`: the text is a slice of the request body (see `body_is_clean`)."""
        if self.is_fast and len(value) * 4 <= self.max_message and "\x00" not in value:
            if verbatim and self.body_is_clean:
                return value
            if self._deferred is not None:
                self._deferred[0].append(value)
                return value
            if not self.redactor.may_match(value):
                return value
        return self.text(value, self.max_message)

    def is_plain_key(self, key: str) -> bool:
        """Short, not sensitive, no NUL: such a key needs no work (memoised; keys repeat)."""
        plain = self.plain_keys.get(key)
        if plain is None:
            plain = len(key) <= 64 and "\x00" not in key and not self.redactor.is_sensitive_key(key)
            if len(self.plain_keys) < 10_000:
                self.plain_keys[key] = plain
        return plain

    def is_plain(self, items: dict[str, Any]) -> bool:
        """A flat map of short scalars under plain keys: stored as it is when the body is clean."""
        if not self.is_fast or len(items) > self.max_attributes:
            return False
        short, plain_key = self.max_value // 4, self.is_plain_key
        for key, value in items.items():
            kind = type(value)
            if kind is str:
                if len(value) > short or "\x00" in value:
                    return False
            elif kind is float:
                if value - value != 0:  # NaN or ±Inf
                    return False
            elif kind is int:
                if not -(2**63) <= value < 2**64:
                    return False
            elif value is not None and kind is not bool:
                return False
            if not plain_key(key):
                return False
        return True

    def value(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return self.text(value, self.max_value)
        if value is None or value is True or value is False:
            return value
        if isinstance(value, int):
            return value if -(2**63) <= value < 2**64 else str(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else _float_name(value)
        if depth >= MAX_DEPTH:
            self.truncated = True
            return DEPTH_LIMIT_MARKER
        if isinstance(value, dict):
            return self.mapping(value, depth + 1)
        if isinstance(value, list | tuple):
            if len(value) > MAX_ARRAY_ITEMS:
                self.truncated = True
            return [self.value(item, depth + 1) for item in value[:MAX_ARRAY_ITEMS]]
        return self.text(str(value), self.max_value)

    def mapping(self, items: dict[Any, Any], depth: int = 0) -> dict[str, Any]:
        cleaned: dict[str, Any] = {}
        sensitive = self.redactor.is_sensitive_key
        for key, item in items.items():
            if len(cleaned) >= self.max_attributes:
                self.dropped += len(items) - len(cleaned)
                break
            key = key if isinstance(key, str) else str(key)
            if len(key) > 64 or "\x00" in key or self.check_surrogates:
                key = self.text(key, self.max_key)
            cleaned[key] = REDACTED if sensitive(key) else self.value(item, depth)
        return cleaned

    def attributes_jsonb(
        self, items: dict[Any, Any], plain: bool | None = None, verbatim: bool = False
    ) -> bytes:
        """A record's attributes as binary jsonb (see batch.jsonb); the fast path serialises once.
        `plain` is the caller's own verdict of is_plain(items), when it could tell more cheaply;
        `verbatim`: every key and string value is a slice of the request body (see `body_is_clean`)."""
        if plain is None:
            plain = self.is_plain(items)
        if plain and self.is_fast and not self.truncated:
            blob = orjson.dumps(items)
            if verbatim and self.body_is_clean:
                return b"\x01" + blob
            if self._deferred is not None:
                self._deferred[1].append(blob)
                return b"\x01" + blob
            if not self.redactor.may_match_bytes(blob):
                return b"\x01" + blob
        return b"\x01" + orjson.dumps(self.attributes(items))

    def attributes(self, items: dict[Any, Any]) -> dict[str, Any]:
        """A record's top-level attributes, flagged when anything in the record was cut."""
        cleaned = self.mapping(items)
        if self.truncated:
            cleaned["vigil.truncated"] = True
        if self.dropped:
            cleaned["vigil.dropped_attributes"] = self.dropped
        self.truncated = False
        self.dropped = 0
        return cleaned


def _float_name(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def clean_resource(cleaner: Cleaner, items: dict[Any, Any]) -> dict[str, Any]:
    """Resource attributes are shared by many records: cleaned once, never flagged per record."""
    cleaned = cleaner.mapping(items)
    cleaner.truncated = False
    cleaner.dropped = 0
    return cleaned


def escape_surrogates_in(value: str) -> str:
    return _SURROGATE.sub(_escape_surrogate, value) if _SURROGATE.search(value) else value
