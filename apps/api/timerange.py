"""Time ranges and free text in query strings: the one parser of `start`/`end` (logs, traces,
metrics and the overview all use it), so every API accepts the same formats with the same default,
cap and bounds. Every parser raises BadParameter (a 400 naming the parameter) for input it cannot
serve, before anything reaches the database: PostgreSQL text cannot hold NUL, and datetime
arithmetic overflows near year 1 and 9999, either of which would otherwise be a 500."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_datetime

from apps.api.errors import BadParameter

DEFAULT_RANGE = timedelta(hours=1)
MAX_RANGE = timedelta(days=31)
# Telemetry is stored with Unix timestamps; nothing a query can mean lies outside this span, and
# keeping away from datetime's ends leaves room for range arithmetic (end - 1h, bucket rounding).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_RELATIVE_RE = re.compile(r"^(?:now)?-(\d{1,6})(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_UNIX_RE = re.compile(r"^\d{1,12}(\.\d{1,9})?$")


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    @property
    def span(self) -> timedelta:
        return self.end - self.start


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


def parse_limit(value: str | None, *, default: int, maximum: int) -> int:
    """A count parameter (limit, top, sample): 1 to `maximum`, `default` when absent."""
    if value is None or value == "":
        return default
    # isascii: str.isdigit() also admits other scripts' digits and superscripts.
    if not (value.isascii() and value.isdigit() and len(value) <= 9) or not 1 <= int(value) <= maximum:
        raise BadParameter("limit", f"limit must be an integer from 1 to {maximum}.")
    return int(value)
