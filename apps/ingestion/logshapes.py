"""JSON logs as applications write them, read into the native log record shape.

The native endpoint's shape is `{timestamp, level, message, service, trace_id, span_id, attributes}`;
the loggers people already run write other names for the same things. `as_native` maps them
before the native decoder runs (apps.ingestion.native), so everything downstream (limits,
redaction, the column fast path) is unchanged:

time, level, message, service, logger name, exception and ids under the names python-json-logger,
structlog, pino, bunyan, winston, Logstash/ECS and Docker's json-file use; the table of names is
in the README ("JSON logs as your logger writes them") and in the *_KEYS constants below.

Every other top-level field is kept as an attribute; nothing is dropped. Dotted ECS names are
read both flat (`"log.level": …`) and nested (`"log": {"level": …}`). A text time without a zone
(python-json-logger's `asctime`, structlog's local `TimeStamper`) is read in the project's
`log_time_zone` (default UTC) and counted, and the answer says so: a silent five-hour shift is
the worst thing a log store can do to an incident timeline.

Hot path: a batch already in the native shape with no text times is recognised by two C-level
passes over the records and returned as it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from itertools import repeat
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from apps.ingestion.models import IngestionSettings
from apps.ingestion.native import LEVELS

NATIVE_KEYS = frozenset({"timestamp", "level", "message", "service", "trace_id", "span_id", "attributes"})
TIME_KEYS = ("timestamp", "@timestamp", "time", "ts", "asctime")
LEVEL_KEYS = ("level", "levelname", "log.level", "severity", "lvl")
MESSAGE_KEYS = ("message", "msg", "event")
SERVICE_KEYS = ("service.name", "serviceName", "otelServiceName")
LOGGER_KEYS = ("logger", "logger_name", "log.logger")
TRACE_KEYS = ("trace_id", "traceId", "trace.id", "otelTraceID")
SPAN_KEYS = ("span_id", "spanId", "span.id", "otelSpanID")
TEXT_EXCEPTION_KEYS = ("exc_info", "exc_text", "exception", "stack_trace", "error.stack_trace", "stack")
RENAMED = {"hostname": "host.name", "pid": "process.pid"}
# pino and bunyan: 10 trace … 60 fatal, as OTLP severity numbers.
NUMERIC_LEVELS = {10: 1, 20: 5, 30: 9, 40: 13, 50: 17, 60: 21}
# Level names the native endpoint does not know: winston's npm levels, structlog's and zap's.
LEVEL_NAMES = {"silly": 1, "verbose": 6, "http": 8, "exception": 17, "dpanic": 21, "panic": 21}
SETTINGS_CACHE_SECONDS = 30.0


class Mapper:
    """One per request: maps records and counts the times it read in the project's zone."""

    def __init__(self, zone: Callable[[], tzinfo]) -> None:
        self._zone_of_project = zone
        self._zone: tzinfo | None = None
        self.zoneless = 0
        self.unreadable_times = 0

    @property
    def zone(self) -> tzinfo:
        if self._zone is None:
            self._zone = self._zone_of_project()
        return self._zone

    def warnings(self) -> list[str]:
        found = []
        if self.zoneless:
            found.append(
                f"{self.zoneless} timestamp(s) without a time zone were read in {self.zone} "
                "(the project's log time zone)."
            )
        if self.unreadable_times:
            found.append(
                f"{self.unreadable_times} timestamp(s) could not be read; those records are stored "
                "at their time of receipt and keep the original text as an attribute."
            )
        return found

    def record(self, record: dict[str, Any]) -> dict[str, Any]:
        if record.keys() <= NATIVE_KEYS:
            stamp = record.get("timestamp")
            if type(stamp) is str:
                return {**record, "timestamp": self.native_time(stamp)}
            return record
        return self.mapped(dict(record))

    def native_time(self, text: str) -> Any:
        """A native record's text time: zoneless ones in the project's zone; the rest as it was
        (the native decoder answers for what it cannot read)."""
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return text
        return self._ns(parsed)

    def _ns(self, parsed: datetime) -> int:
        if parsed.tzinfo is None:
            self.zoneless += 1
            parsed = parsed.replace(tzinfo=self.zone)
        delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000

    def mapped(self, rest: dict[str, Any]) -> dict[str, Any]:
        """`rest` (a copy) loses the fields it maps; whatever stays becomes attributes."""
        out: dict[str, Any] = {}
        attributes: dict[str, Any] = {}
        docker_line = rest.get("log")
        if type(docker_line) is str:
            inner = _json_object(docker_line)
            if inner is not None:  # an app writing JSON to stdout under Docker: read the app's record
                del rest["log"]
                return self._merge_docker(self.mapped(inner), rest)
            out["message"] = docker_line.rstrip("\n")
            del rest["log"]
        if "message" not in out:
            found, message = _take(rest, MESSAGE_KEYS)
            if found:
                out["message"] = message
        found, stamp = _take(rest, TIME_KEYS)
        if found:
            self._time(stamp, out, attributes)
        found, level = _take(rest, LEVEL_KEYS)
        if found:
            self._level(level, out, attributes)
        self._service(rest, out)
        found, logger = _take(rest, LOGGER_KEYS)
        if not found and "v" not in rest and type(rest.get("name")) is str:
            found, logger = True, rest.pop("name")  # python-json-logger's %(name)s
        if found:
            attributes["log.logger"] = logger
        _ids(rest, TRACE_KEYS, 32, "trace_id", out)
        _ids(rest, SPAN_KEYS, 16, "span_id", out)
        _exception(rest, attributes)
        for old, new in RENAMED.items():
            if old in rest:
                attributes[new] = rest.pop(old)
        native_attributes = rest.pop("attributes", None)
        if type(native_attributes) is dict:
            attributes.update(native_attributes)
        elif native_attributes is not None:
            rest["attributes"] = native_attributes
        out["attributes"] = {**rest, **attributes}
        return out

    def _merge_docker(self, inner: dict[str, Any], outer: dict[str, Any]) -> dict[str, Any]:
        stamp = outer.pop("time", None)
        if "timestamp" not in inner and stamp is not None:
            self._time(stamp, inner, inner["attributes"])
        for key, value in outer.items():
            inner["attributes"].setdefault(key, value)  # stream, attrs: Docker's, not the app's
        return inner

    def _time(self, stamp: Any, out: dict[str, Any], attributes: dict[str, Any]) -> None:
        if type(stamp) is not str:
            out["timestamp"] = stamp  # numbers: the native reader tells s/ms/µs/ns apart
            return
        try:
            parsed = datetime.fromisoformat(stamp.replace(",", ".", 1) if "," in stamp else stamp)
        except ValueError:
            self.unreadable_times += 1
            attributes["log.time"] = stamp
            return
        out["timestamp"] = self._ns(parsed)

    @staticmethod
    def _level(level: Any, out: dict[str, Any], attributes: dict[str, Any]) -> None:
        if type(level) is int:
            number = NUMERIC_LEVELS.get(level, level if 0 <= level <= 24 else None)
        elif type(level) is str:
            name = level.lower()
            number = LEVELS.get(name, LEVEL_NAMES.get(name))
        else:
            number = None
        if number is None:  # not a level we know: stored unspecified, the original kept
            attributes["log.level"] = level
            number = 0
        out["level"] = number

    @staticmethod
    def _service(rest: dict[str, Any], out: dict[str, Any]) -> None:
        service = rest.get("service")
        if type(service) is str:
            out["service"] = rest.pop("service")
            return
        found, name = _take(rest, SERVICE_KEYS)
        if not found and "v" in rest and type(rest.get("name")) is str:  # bunyan: name is the app's
            found, name = True, rest.pop("name")
        if found and type(name) is str:
            out["service"] = name
        elif found:
            rest["service.name"] = name


def _take(rest: dict[str, Any], names: tuple[str, ...]) -> tuple[bool, Any]:
    """The first of `names` present (dotted names also nested: `log.level` in `{"log": {"level"}}`),
    removed from `rest`."""
    for name in names:
        if name in rest:
            return True, rest.pop(name)
        head, dot, tail = name.partition(".")
        if dot:
            nested = rest.get(head)
            if type(nested) is dict and tail in nested:
                value = nested.pop(tail)
                if not nested:
                    del rest[head]
                return True, value
    return False, None


def _ids(rest: dict[str, Any], names: tuple[str, ...], length: int, field: str, out: dict[str, Any]) -> None:
    """Ids that are hex of the right length become the record's; all-zero ones (the OTel logging
    instrumentation writes "0" outside a span) mean none; anything else stays an attribute."""
    for name in names:
        head, dot, tail = name.partition(".")
        nested = rest.get(head) if dot else None
        if name not in rest and not (type(nested) is dict and tail in nested):
            continue
        value = rest[name] if name in rest else nested[tail]  # type: ignore[index]
        if type(value) is not str:
            return
        text = value.lower()
        if text.strip("0") == "":
            _take(rest, (name,))
            return
        if len(text) == length and all(c in "0123456789abcdef" for c in text):
            _take(rest, (name,))
            out[field] = text
        return


def _exception(rest: dict[str, Any], attributes: dict[str, Any]) -> None:
    for key in ("err", "error"):
        value = rest.get(key)
        if type(value) is dict and ({"stack", "stack_trace", "message", "type"} & value.keys()):
            error = rest.pop(key)
            _put(attributes, "exception.type", error.pop("type", None) or error.pop("name", None))
            _put(attributes, "exception.message", error.pop("message", None))
            _put(
                attributes, "exception.stacktrace", error.pop("stack", None) or error.pop("stack_trace", None)
            )
            for name, item in error.items():
                attributes.setdefault(f"exception.{name}", item)
            return
    found, text = _take(rest, TEXT_EXCEPTION_KEYS)
    if found:
        if type(text) is not str:
            attributes["exception"] = text
            return
        attributes["exception.stacktrace"] = text
        kind, message = _exception_line(text)
        _put(attributes, "exception.type", kind)
        _put(attributes, "exception.message", message)
    for key, attribute in (("error.type", "exception.type"), ("error.message", "exception.message")):
        found, value = _take(rest, (key,))
        if found:
            attributes.setdefault(attribute, value)


def _exception_line(text: str) -> tuple[str | None, str | None]:
    """`ValueError: boom` from a Python traceback (its last line) or a JS stack (its first)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None, None
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    kind, colon, message = line.partition(": ")
    if not colon or " " in kind.strip() or not kind.strip():
        return None, None
    return kind.strip(), message


def _put(attributes: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        attributes[key] = value


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if type(value) is dict else None


def as_native(records: list[Any], zone: Callable[[], tzinfo]) -> tuple[list[Any], list[str]]:
    """The records in the native shape, and the warnings for the answer (zoneless or unreadable
    times). Records that are not objects pass through for the native decoder to reject."""
    if set(map(type, records)) == {dict}:
        # The hot path: the native shape and no text times (two passes in C, no per-record Python).
        if set().union(*records) <= NATIVE_KEYS and str not in set(
            map(type, map(dict.get, records, repeat("timestamp")))
        ):
            return records, []
    mapper = Mapper(zone)
    mapped = [mapper.record(record) if type(record) is dict else record for record in records]
    return mapped, mapper.warnings()


_zones: dict[int, tuple[float, tzinfo]] = {}
_zones_lock = threading.Lock()


def time_zone_for(project_id: int) -> tzinfo:
    """The project's log time zone, re-read at most every SETTINGS_CACHE_SECONDS."""
    now = time.monotonic()
    cached = _zones.get(project_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    name = (
        IngestionSettings.objects.filter(project_id=project_id)
        .values_list("log_time_zone", flat=True)
        .first()
    )
    try:
        zone: tzinfo = ZoneInfo(name) if name and name != "UTC" else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC  # the model validates names; a zone removed from tzdata since falls back
    with _zones_lock:
        _zones[project_id] = (now + SETTINGS_CACHE_SECONDS, zone)
    return zone


def forget_time_zones() -> None:
    with _zones_lock:
        _zones.clear()
