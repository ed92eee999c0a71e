"""Grouping `vigil-v1`: which events are the same problem.

Design note. The primary hash is, in order of preference:
1. the SDK's `fingerprint` (its `{{ default }}` entries replaced by the default components);
2. the last exception of the chain (the one that reached the top): its type and its in-app frames,
   each as module-or-file + function + the stripped context line — never line or column numbers,
   which move with every unrelated edit above the frame; JS build hashes stripped from file
   names, which change with every deploy (`main.3f2a1b9c.js` → `main.js`);
3. the exception type (or "message") with the message's variable parts masked (numbers, UUIDs,
   hex ids, emails, IPs, dates), so "user 17 not found" and "user 42 not found" group.
A second hash over *all* frames is stored too: when the in-app rules change (an SDK upgrade
marks a frame differently) the event still finds its issue through it.

The version is stored with each hash: a future `vigil-v2` can coexist with issues grouped by v1.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

GROUPING = "vigil-v1"
DEFAULT_MARKERS = {"{{ default }}", "{{default}}"}

_MASKS = [
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"),
        "<date>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b"), "<time>"),
    (
        re.compile(r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b"),
        "<uuid>",
    ),
    # Starts only where a run of name characters starts: without the lookbehind every position of
    # a long run is tried again to its end, and a 40 KiB word took 19 s (quadratic).
    (re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"(?<![A-Za-z_\d])\d+(?:\.\d+)?"), "<int>"),
]
# `main.3f2a1b9c.js`, `chunk-5e6f7a8b.mjs`, `app.abcdef1234567890.min.js`: the hash part goes.
_JS_BUILD_HASH = re.compile(r"[.-][0-9a-fA-F]{6,}(?=(?:\.min)?\.(?:m?js|cjs|jsx|ts|tsx)$)")
_URL_ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]*")


@dataclass
class Grouping:
    primary: str
    secondary: str | None  # the all-frames hash; None when there are no frames
    basis: list[str] = field(default_factory=list)  # the components of the primary hash, for "why"


def mask(message: str) -> str:
    for pattern, replacement in _MASKS:
        message = pattern.sub(replacement, message)
    return message


def normalize_filename(filename: str) -> str:
    name = _URL_ORIGIN.sub("", filename).split("?", 1)[0].split("#", 1)[0]
    return _JS_BUILD_HASH.sub("", name)


def _digest(parts: list[str]) -> str:
    return hashlib.md5("\x00".join(parts).encode(), usedforsecurity=False).hexdigest()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    if isinstance(value, dict):  # {"values": [...]} as most SDKs send it
        value = value.get("values")
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return text.replace("\x00", "")  # the basis is stored in jsonb, which refuses NUL


def exceptions(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in _list(event.get("exception")) if isinstance(e, dict)]


def frames_of(exception: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in _list(_dict(exception.get("stacktrace")).get("frames")) if isinstance(f, dict)]


def frame_component(frame: dict[str, Any]) -> str:
    parts = (
        frame.get("module"),
        frame.get("filename") or frame.get("abs_path"),
        frame.get("function"),
        frame.get("context_line"),
    )
    try:
        return _component(*parts)
    except TypeError:  # a list or an object where SDKs send text: not hashable, made uncached
        return _component.__wrapped__(*parts)


@functools.lru_cache(maxsize=16_384)
def _component(module: Any, filename: Any, function: Any, context_line: Any) -> str:
    """A frame's grouping component. Cached: the same frames come back in event after event (a
    hot set of 1,000 issues has ~1,000 distinct frames), and making one was ~1 µs of a request's
    CPU per frame."""
    where = _text(module) or normalize_filename(_text(filename))
    context = " ".join(_text(context_line).split())
    return f"{where} {_text(function)} {context}".strip()


def in_app_frames(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Frames the SDK marked in-app; all frames when it marked none (many SDKs mark nothing)."""
    return [frames[i] for i in in_app_indexes(frames)]


def in_app_indexes(frames: list[dict[str, Any]]) -> list[int]:
    """The positions of `in_app_frames` in `frames`."""
    marked = [i for i, f in enumerate(frames) if f.get("in_app") is True]
    if marked:
        return marked
    return [i for i, f in enumerate(frames) if f.get("in_app") is not False] or list(range(len(frames)))


def message_of(event: dict[str, Any]) -> str:
    """The message template when there is one (`logentry.message` before its params are filled)."""
    logentry = _dict(event.get("logentry"))
    message = event.get("message")
    text = _text(logentry.get("message")) or _text(logentry.get("formatted"))
    if not text:
        text = (
            _text(_dict(message).get("formatted") or _dict(message).get("message"))
            if isinstance(message, dict)
            else _text(message)
        )
    return text


def default_components(event: dict[str, Any]) -> tuple[list[str], list[str] | None]:
    """The primary components and the all-frames components (None without frames)."""
    chain = exceptions(event)
    if chain:
        last = chain[-1]
        kind = _text(last.get("type")) or "Error"
        frames = frames_of(last)
        if frames:
            # Each frame's component once: the in-app frames are most of the frames, and the
            # components were a fifth of building an event's row when made for both lists.
            components = [frame_component(f) for f in frames]
            primary = [kind, *(components[i] for i in in_app_indexes(frames))]
            return primary, [kind, *components]
        return [kind, mask(_text(last.get("value")))], None
    return ["message", mask(message_of(event))], None


def group(event: dict[str, Any]) -> Grouping:
    components, all_frames = default_components(event)
    fingerprint = event.get("fingerprint")
    if isinstance(fingerprint, list) and fingerprint:
        parts: list[str] = []
        for entry in fingerprint:
            text = _text(entry)
            parts.extend(components if text in DEFAULT_MARKERS else [text])
        return Grouping(_digest(["fingerprint", *parts]), None, parts)
    secondary = _digest(["frames", *all_frames]) if all_frames is not None else None
    if secondary is not None and all_frames == components:
        secondary = None  # the same components: one hash is enough
    return Grouping(_digest(components), secondary, components)
