"""Field conversions shared by the OTLP and native decoders."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import orjson

from apps.ingestion.batch import Batch, SeriesSpec
from apps.ingestion.errors import IngestError

ZERO_TRACE = "0" * 32
ZERO_SPAN = "0" * 16
INT8_MAX = 2**63 - 1


class RecordRejected(ValueError):
    """One record is invalid; the rest of the request goes on (partial success)."""


def loads_json(data: bytes) -> tuple[Any, bool]:
    """Parse JSON; returns (value, may_hold_lone_surrogates).

    orjson refuses lone surrogate escapes ("\\ud800"), which are valid JSON; the stdlib parser
    keeps them, and the Cleaner then stores them escaped. That second parser is held to accept no
    more than orjson: strict UTF-8 without a BOM, no NaN/Infinity, no number that overflows a
    double, and integers beyond 64 bits read as floats, as orjson reads them. Anything else
    malformed is a 400 — a laxer fallback once let a lone surrogate smuggle NaN and 70-bit integers
    past validation into a 500 that lost the whole request.
    """
    try:
        return orjson.loads(data), False
    except orjson.JSONDecodeError as exc:
        if "surrogate" not in str(exc):
            raise IngestError(400, f"Malformed JSON: {exc}.") from None
    try:
        # Decoding first (strictly) keeps json.loads from guessing UTF-16/32 or passing raw
        # UTF-8-encoded surrogates, which orjson refuses.
        return _STRICT_DECODER.decode(data.decode("utf-8")), True
    except (ValueError, RecursionError) as exc:
        raise IngestError(400, f"Malformed JSON: {exc}.") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _orjson_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number is infinity when parsed as double")
    return value


def _orjson_int(text: str) -> int | float:
    value = int(text)  # (Python refuses more than 4,300 digits: a ValueError, so a 400)
    return value if -(2**63) <= value < 2**64 else _orjson_float(text)


_STRICT_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_float=_orjson_float, parse_int=_orjson_int
)


def hex_id(value: Any, length: int, field: str) -> str | None:
    """A lowercase hex id of `length` characters; empty or all-zero means absent (None)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordRejected(f"{field} must be a hex string")
    try:
        # fromhex is C and strict about digits; it skips spaces, which the length check catches.
        raw = bytes.fromhex(value) if len(value) == length else b""
    except ValueError:
        raw = b""
    if len(raw) * 2 != length:
        raise RecordRejected(f"{field} must be {length} hex characters")
    return None if raw.count(0) == len(raw) else raw.hex()


def bytes_id(value: bytes, length: int, field: str) -> str | None:
    """OTLP protobuf ids: `length` bytes; empty or all-zero means absent (None)."""
    if not value:
        return None
    if len(value) != length:
        raise RecordRejected(f"{field} must be {length} bytes, got {len(value)}")
    if value.count(0) == length:
        return None
    return value.hex()


def timestamp_ns(value: Any) -> int:
    """Native timestamps: RFC 3339 text, or a number of seconds, milliseconds, microseconds or
    nanoseconds since the epoch (told apart by magnitude). Missing means now (0)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise RecordRejected("timestamp must be RFC 3339 text or a number")
    if isinstance(value, int | float):
        magnitude = abs(value)
        scale = 10**9 if magnitude < 1e11 else 10**6 if magnitude < 1e14 else 10**3 if magnitude < 1e17 else 1
        return int(value * scale)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise RecordRejected("timestamp is not RFC 3339") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    raise RecordRejected("timestamp must be RFC 3339 text or a number")


def add_series(
    batch: Batch,
    name: str,
    type_: str,
    unit: str,
    temporality: int,
    is_monotonic: bool,
    labels: dict[str, Any],
    description: str = "",
) -> bytes:
    """Register the series (project + name + labels) and return its identity hash."""
    labels_json = orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)
    labels_hash = hashlib.blake2b(
        name.encode("utf-8", "surrogatepass") + b"\x00" + labels_json, digest_size=16
    ).digest()
    if labels_hash not in batch.series:
        batch.series[labels_hash] = SeriesSpec(
            name, type_, unit, temporality, is_monotonic, labels_json, description
        )
    return labels_hash


def check_histogram(bounds: list[float], counts: list[int]) -> None:
    if not bounds and not counts:
        return
    if len(counts) != len(bounds) + 1:
        raise RecordRejected(
            f"histogram has {len(counts)} bucket counts for {len(bounds)} bounds (need bounds + 1)"
        )
    if any(b != b for b in bounds) or any(a >= b for a, b in pairwise(bounds)):
        raise RecordRejected("histogram bounds must be strictly increasing numbers")
    if any(c < 0 or c > INT8_MAX for c in counts):
        raise RecordRejected("histogram bucket counts must be between 0 and 2^63-1")


# Exponential histograms are also stored as explicit bucket counts on one fixed grid, so rollups,
# charts and percentiles treat them like any histogram: each export may use its own scale and
# offset, and only a shared grid lets points (and series) be merged by adding counts. The grid
# has half-powers of two from 2^-20 (~1e-6) to 2^30 (~1e9), and their negatives: a bucket is at
# most sqrt(2) wide, which bounds a percentile's error; values outside fall into the end buckets.
_HALF_POWERS = [2.0 ** (half / 2) for half in range(-40, 61)]  # 2^-20 ... 2^30, 101 bounds
# Mirrored for negative values, so the bucket between the last negative and the first positive bound,
# (-2^-20, 2^-20], holds the zeros: a percentile that falls there comes out as 0 (the bucket's middle),
# not as an interpolation between the smallest negative value and 2^-20.
EXP_GRID = [-bound for bound in reversed(_HALF_POWERS)] + _HALF_POWERS
ZERO_BUCKET = len(_HALF_POWERS)  # grid bucket j covers (EXP_GRID[j-1], EXP_GRID[j]]
_EXP_OFFSET = ZERO_BUCKET + 41  # 2^(m/2) ends positive bucket m + 40 (counted from the zero bucket + 1)


def exponential_to_grid(
    scale: int,
    zero_count: int,
    offset: int,
    positive: list[int],
    negative: list[int],
    negative_offset: int = 0,
) -> list[int]:
    """Bucket counts of an OTLP exponential histogram on EXP_GRID (len(EXP_GRID) + 1 counts).

    Positive bucket i at `scale` covers (2^(i/2^scale), 2^((i+1)/2^scale)]. At scale >= 1 it lies
    inside one grid bucket; at coarser scales it spans several and is counted in the one holding
    its upper end. Negative bucket i (values whose magnitude is in that range) goes to the mirror
    image of that grid bucket; the zero count, and magnitudes up to 2^-20, to the zero bucket."""
    counts = [0] * (len(EXP_GRID) + 1)
    counts[ZERO_BUCKET] = zero_count
    for position, count in enumerate(positive):
        if count:
            counts[_positive_bucket(scale, offset + position)] += count
    for position, count in enumerate(negative):
        if count:
            counts[2 * ZERO_BUCKET - _positive_bucket(scale, negative_offset + position)] += count
    return counts


def _positive_bucket(scale: int, index: int) -> int:
    """The grid bucket of positive exponential bucket `index` (clamped to the grid's ends)."""
    if scale >= 1:
        bucket = (index >> (scale - 1)) + _EXP_OFFSET
    else:
        bucket = ((index + 1) << (1 - scale)) + _EXP_OFFSET - 1
    return min(max(bucket, ZERO_BUCKET), 2 * ZERO_BUCKET + 1)


def check_count(value: int) -> int:
    if not 0 <= value <= INT8_MAX:
        raise RecordRejected("counts must be between 0 and 2^63-1")
    return value
