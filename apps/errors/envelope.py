"""Sentry envelopes (https://develop.sentry.dev/sdk/envelopes/), parsed from a whole body.

An envelope is a JSON header line, then items: a JSON item header line and a payload, which is
`length` bytes when the header says so and the rest of the line otherwise. Tolerated on purpose,
because SDKs in the wild send them: CRLF line ends, a missing final newline, blank lines between
items. Refused (EnvelopeError → 400): a header that is not a JSON object, an item header without
a `type`, an item shorter than its `length` (a truncated upload: nothing in it is trusted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

MAX_ITEMS = 1000


class EnvelopeError(Exception):
    pass


@dataclass(frozen=True)
class Item:
    type: str
    headers: dict[str, Any]
    payload: bytes


@dataclass(frozen=True)
class Envelope:
    headers: dict[str, Any]
    items: list[Item]


def _line(body: bytes, start: int) -> tuple[bytes, int]:
    """The line at `start` without its line end, and where the next one starts."""
    end = body.find(b"\n", start)
    if end == -1:
        end = len(body)
    line = body[start:end]
    return (line[:-1] if line.endswith(b"\r") else line), end + 1


def _object(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise EnvelopeError(f"The {what} is not valid JSON.") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"The {what} must be a JSON object.")
    return value


def parse(body: bytes) -> Envelope:
    line, position = _line(body, 0)
    if not line.strip():
        raise EnvelopeError("Empty envelope: the first line must be the envelope header.")
    headers = _object(line, "envelope header")
    items: list[Item] = []
    while position < len(body):
        line, position = _line(body, position)
        if not line.strip():
            continue  # blank lines between items (and a trailing one) carry nothing
        item_headers = _object(line, f"header of item {len(items) + 1}")
        kind = item_headers.get("type")
        if not isinstance(kind, str) or not kind:
            raise EnvelopeError(f"Item {len(items) + 1} has no `type`.")
        length = item_headers.get("length")
        if length is None:
            payload, position = _line(body, position)
        elif isinstance(length, int) and not isinstance(length, bool) and length >= 0:
            payload = body[position : position + length]
            if len(payload) < length:
                raise EnvelopeError(
                    f"Item {len(items) + 1} ({kind}) is truncated: {len(payload)} of {length} bytes."
                )
            position += length
            # The newline after a length-delimited payload is optional.
            if body[position : position + 2] == b"\r\n":
                position += 2
            elif body[position : position + 1] == b"\n":
                position += 1
        else:
            raise EnvelopeError(f"Item {len(items) + 1} has an invalid `length`.")
        items.append(Item(kind, item_headers, payload))
        if len(items) > MAX_ITEMS:
            raise EnvelopeError(f"More than {MAX_ITEMS} items in one envelope.")
    return Envelope(headers, items)


def json_payload(item: Item) -> dict[str, Any] | None:
    """An item's payload as a JSON object, or None when it is not one (the item is skipped)."""
    try:
        value = orjson.loads(item.payload)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
