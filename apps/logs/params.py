"""Request parameters of the read APIs: time ranges, limits, text and keyset cursors.

Every parser here raises BadParameter (a 400 naming the parameter and its allowed range) for any
input it cannot serve, before anything reaches the database: PostgreSQL text cannot hold NUL, and
datetime arithmetic overflows near year 1 and 9999, either of which would otherwise be a 500.

Cursor design. Results are ordered by (ts DESC, ctid DESC). logs_event has no id column, and
adding one would cost every COPY a sequence call; ctid serves as the tie-break instead because:
  * rows with the same ts always live in the same partition (the table is partitioned on ts), so
    comparing ctids only ever happens inside one partition, where it is a total order;
  * log rows are append-only (COPY, never UPDATE), so a row keeps its ctid for its lifetime, and
    retention drops whole partitions rather than deleting rows.
The one operation that renumbers ctids is a table rewrite (VACUUM FULL, CLUSTER, pg_repack) of a
partition; a cursor taken before such a rewrite may then repeat or skip rows sharing the boundary
timestamp, never others. Content-based tie-breaks (md5(message), observed_ts) are no better: two
identical lines logged in the same microsecond would collapse into one key and one would be lost.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from django.utils.dateparse import parse_datetime

DEFAULT_RANGE = timedelta(hours=1)
MAX_RANGE = timedelta(days=31)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Telemetry is stored with Unix timestamps; nothing a query can mean lies outside this span, and
# keeping away from datetime's ends leaves room for range arithmetic (end - 1h, bucket rounding).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_RELATIVE_RE = re.compile(r"^(?:now)?-(\d{1,6})(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_UNIX_RE = re.compile(r"^\d{1,12}(\.\d{1,9})?$")
_TID_RE = re.compile(r"^\(\d{1,10},\d{1,5}\)$")


class BadParameter(ValueError):
    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(message)


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    @property
    def span(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class Cursor:
    ts: datetime
    ctid: str  # "(page,offset)" as PostgreSQL prints a tid


def parse_text(name: str, value: str | None, max_length: int, default: str = "") -> str:
    """A free-text parameter: at most `max_length` characters, no NUL (PostgreSQL refuses it)."""
    if value is None:
        return default
    if len(value) > max_length:
        raise BadParameter(name, f"{name} must be at most {max_length} characters.")
    if "\x00" in value:
        raise BadParameter(name, f"{name} must not contain a NUL character.")
    return value


def parse_time(name: str, value: str, now: datetime) -> datetime:
    """ISO 8601 (a naive value is UTC), Unix seconds, `now`, or relative to now: -15m, -24h, -7d,
    now-30s. The one parser of times in query strings: logs, traces and metrics all use it."""
    moment = _parse_moment(name, parse_text(name, value, 64).strip(), now)
    try:
        in_range = EARLIEST <= moment <= LATEST
    except OverflowError:  # comparing converts to UTC: 9999-12-31T23:00-05:00 is past year 9999
        in_range = False
    if not in_range:
        raise _out_of_range(name)
    return moment


def _out_of_range(name: str) -> BadParameter:
    return BadParameter(name, f"{name} must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}.")


def _parse_moment(name: str, value: str, now: datetime) -> datetime:
    if value == "now":
        return now
    if _UNIX_RE.match(value):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise _out_of_range(name) from None
    relative = _RELATIVE_RE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        try:
            return now - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise _out_of_range(name) from None
    try:
        parsed = parse_datetime(value.replace(" ", "+", 1) if "T" in value and " " in value else value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadParameter(
            name,
            f"{name} must be ISO 8601 (2026-01-31T12:00:00Z), Unix seconds, 'now' or relative"
            " (-15m, -24h, -7d).",
        )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_range(start: str | None, end: str | None, now: datetime | None = None) -> TimeRange:
    now = now or datetime.now(UTC)
    end_at = parse_time("end", end, now) if end else now
    start_at = parse_time("start", start, now) if start else end_at - DEFAULT_RANGE
    if start_at >= end_at:
        raise BadParameter("start", "start must be before end.")
    if end_at - start_at > MAX_RANGE:
        raise BadParameter("start", f"A range spans at most {MAX_RANGE.days} days.")
    return TimeRange(start_at, end_at)


def parse_limit(value: str | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    if value is None or value == "":
        return default
    # isascii: str.isdigit() also admits other scripts' digits and superscripts.
    if not (value.isascii() and value.isdigit() and len(value) <= 9) or not 1 <= int(value) <= maximum:
        raise BadParameter("limit", f"limit must be an integer from 1 to {maximum}.")
    return int(value)


def encode_cursor(cursor: Cursor) -> str:
    raw = orjson.dumps({"ts": cursor.ts.isoformat(), "ctid": cursor.ctid})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None) -> Cursor | None:
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = orjson.loads(raw)
        ts = datetime.fromisoformat(data["ts"])
        ctid = data["ctid"]
    except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise BadParameter("cursor", "cursor is not one this API returned.") from None
    if not isinstance(ctid, str) or not _TID_RE.match(ctid) or ts.tzinfo is None or not _fits_tid(ctid):
        raise BadParameter("cursor", "cursor is not one this API returned.")
    return Cursor(ts, ctid)


def _fits_tid(ctid: str) -> bool:
    page, offset = ctid.strip("()").split(",")
    return int(page) < 2**32 and int(offset) < 2**16
