"""Native JSON ingestion (DESIGN.md §3): a JSON array or NDJSON of flat records, for curl and scripts.

Logs:    {timestamp, level, message, service, trace_id, span_id, attributes}
Metrics: {name, type: counter|gauge|histogram, value | buckets: {bounds, counts}, timestamp, labels, unit}
A native `counter` value is an increment (delta temporality, monotonic); a `gauge` is stored as given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import chain, repeat
from typing import Any

import orjson

from apps.ingestion.batch import (
    JSONB_EMPTY_OBJECT,
    PG_EPOCH_MICROS,
    Batch,
    TimeWindow,
    ns_to_datetime,
    pg_micros,
)
from apps.ingestion.cleaning import Cleaner
from apps.ingestion.errors import IngestError
from apps.ingestion.records import (
    RecordRejected,
    add_series,
    check_histogram,
    hex_id,
    loads_json,
    timestamp_ns,
)

LEVELS = {
    "trace": 1,
    "debug": 5,
    "info": 9,
    "information": 9,
    "notice": 10,
    "warn": 13,
    "warning": 13,
    "error": 17,
    "err": 17,
    "critical": 21,
    "crit": 21,
    "fatal": 21,
    "alert": 22,
    "emergency": 23,
}
METRIC_TYPES = {
    "counter": ("sum", 1, True),
    "gauge": ("gauge", 0, False),
    "histogram": ("histogram", 1, False),
}
MAX_NAME_LENGTH = 255


def parse_records(body: bytes) -> tuple[list[Any], bool]:
    """A JSON array, or NDJSON (one object per line). Returns (records, may_hold_surrogates)."""
    start = body.lstrip()[:1]
    if start == b"[":
        records, surrogates = loads_json(body)
        return records, surrogates
    if start != b"{":
        raise IngestError(400, "Expected a JSON array or NDJSON objects.")
    records, surrogates = [], False
    for number, line in enumerate(body.splitlines(), start=1):
        if line.strip():
            try:
                record, line_surrogates = loads_json(line)
            except IngestError as exc:
                raise IngestError(400, f"Line {number}: {exc.message}") from None
            records.append(record)
            surrogates = surrogates or line_surrogates
    return records, surrogates


def decode_logs(project_id: int, records: list[Any], cleaner: Cleaner) -> Batch:
    plain = _plain_log_rows(project_id, records, cleaner)
    if plain is None:
        return cleaner.optimistically(lambda: _decode_logs(project_id, records, cleaner))
    rows, messages, blobs = plain
    if cleaner.may_need_masking(messages, blobs):
        return _decode_logs(project_id, records, cleaner)  # record by record, masking what needs it
    batch = Batch()
    batch.logs = rows
    return batch


def _decode_logs(project_id: int, records: list[Any], cleaner: Cleaner) -> Batch:
    batch, window = Batch(), TimeWindow()
    append = batch.logs.append
    for index, record in enumerate(records):
        try:
            append(_log_row(project_id, record, window, cleaner))
        except RecordRejected as exc:
            batch.reject(str(exc), index)
    return batch


def _log_row(project_id: int, record: Any, window: TimeWindow, cleaner: Cleaner) -> tuple[Any, ...]:
    if type(record) is not dict:
        raise RecordRejected("a log record must be a JSON object")
    get = record.get
    ns = _accepted_ns(get("timestamp"), window)
    ts = pg_micros(ns) if ns else window.now_micros
    message = get("message", "")
    if type(message) is not str:  # stored as its JSON text, cleaned first (it may hold lone surrogates)
        message = orjson.dumps(cleaner.value(message)).decode()
    message = cleaner.message(message)
    attributes = get("attributes") or {}
    if type(attributes) is not dict:
        raise RecordRejected("attributes must be an object")
    service = get("service") or ""
    if type(service) is not str:
        raise RecordRejected("service must be a string")
    level = get("level")
    return (
        project_id,
        ts,
        window.now_micros,
        level if type(level) is int and 0 <= level <= 24 else _level(level),
        service
        if cleaner.is_fast and len(service) <= 64 and "\x00" not in service
        else cleaner.text(service, 256),
        hex_id(get("trace_id"), 32, "trace_id"),
        hex_id(get("span_id"), 16, "span_id"),
        message,
        cleaner.attributes_jsonb(attributes),
        JSONB_EMPTY_OBJECT,
    )


def _accepted_ns(value: Any, window: TimeWindow) -> int:
    """A record's time in nanoseconds, 0 when it has none (it is then "now")."""
    if type(value) is int and window.earliest_ns <= value <= window.latest_ns:  # the common case: ns
        return value
    ns = timestamp_ns(value)
    if ns and not window.accepts(ns):
        raise RecordRejected("timestamp outside the accepted window (30 days back, 1 day ahead)")
    return ns


def _accepted_time(value: Any, window: TimeWindow) -> Any:
    ns = _accepted_ns(value, window)
    return ns_to_datetime(ns) if ns else window.now


def _level(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 24:
        return value
    if isinstance(value, str) and value.lower() in LEVELS:
        return LEVELS[value.lower()]
    raise RecordRejected(f"unknown level {str(value)[:40]!r}")


_NONE = type(None)
_SCALARS = {str, int, float, bool, _NONE}


def _plain_log_rows(
    project_id: int, records: list[Any], cleaner: Cleaner
) -> tuple[list[tuple[Any, ...]], str, bytes] | None:
    """The rows of a batch in which every record takes _log_row's shortest path, computed a column
    at a time with C-level calls (map, set, join, zip) instead of ~30 Python steps per record; None
    when any record might not (then _log_row decides, record by record). Also returns all messages
    and all attribute JSON, each joined with "\n", for the redactor's quick check (see
    Cleaner.optimistically for why joining changes no verdict). Each condition below is one that
    _log_row's shortest path tests per record, tested for all records at once, conservatively;
    tests/ingestion/test_native_columns.py checks the rows are _log_row's on generated batches.
    """
    if not cleaner.is_fast or not records or set(map(type, records)) != {dict}:
        return None
    get: Any = dict.get  # (typeshed's overloads of dict.get do not fit map's)
    window = TimeWindow()
    times: list[Any] = list(map(get, records, repeat("timestamp")))
    time_kinds = set(map(type, times))
    if time_kinds == {_NONE}:  # no timestamps: all "now"
        timestamps: Iterable[int] = repeat(window.now_micros)
    elif time_kinds == {int} and min(times) >= window.earliest_ns and max(times) <= window.latest_ns:
        timestamps = [ns // 1000 - PG_EPOCH_MICROS for ns in times]  # as pg_micros
    else:
        return None
    messages = list(map(get, records, repeat("message"), repeat("")))
    if set(map(type, messages)) != {str} or max(map(len, messages)) * 4 > cleaner.max_message:
        return None
    levels = _levels(list(map(get, records, repeat("level"))))
    services = _services(list(map(get, records, repeat("service"))))
    trace_ids = _hex_ids(list(map(get, records, repeat("trace_id"))), 32)
    span_ids = _hex_ids(list(map(get, records, repeat("span_id"))), 16)
    if levels is None or services is None or trace_ids is None or span_ids is None:
        return None
    all_messages = "\n".join(messages)
    if "\x00" in all_messages or "\x00" in "".join(services):
        return None
    attributes = _attribute_blobs(list(map(get, records, repeat("attributes"))), cleaner)
    if attributes is None:
        return None
    blobs, all_blobs = attributes
    rows = list(
        zip(
            repeat(project_id),
            timestamps,
            repeat(window.now_micros),
            levels,
            services,
            trace_ids,
            span_ids,
            messages,
            [b"\x01" + blob for blob in blobs],
            repeat(JSONB_EMPTY_OBJECT),
            strict=False,  # one item per record in each list; repeat() is endless
        )
    )
    return rows, all_messages, all_blobs


def _levels(values: list[Any]) -> list[int] | None:
    if not set(map(type, values)) <= {int, str, _NONE}:  # bool is not int here: _level rejects it
        return None
    try:
        numbers = {value: _level(value) for value in set(values)}
    except RecordRejected:
        return None
    return list(map(numbers.__getitem__, values))


def _services(values: list[Any]) -> list[str] | None:
    kinds = set(map(type, values))
    if not kinds <= {str, _NONE} or max(map(len, filter(None, values)), default=0) > 64:
        return None
    return [value or "" for value in values] if _NONE in kinds else values


def _hex_ids(values: list[Any], length: int) -> list[str | None] | None:
    """hex_id's answers when every id is absent (None) or lowercase hex of the right length, not
    all zero; None otherwise (an empty string, upper case, all zeros: hex_id's job)."""
    kinds = set(map(type, values))
    if not kinds <= {str, _NONE}:
        return None
    present = list(filter(None, values)) if _NONE in kinds else values
    if not present:
        return values if len(values) == values.count(None) else None
    joined = "".join(present)
    try:
        decoded = bytes.fromhex(joined)
    except ValueError:
        return None
    if set(map(len, present)) != {length} or len(decoded) * 2 != len(joined) or joined != joined.lower():
        return None  # (fromhex skips whitespace, which the length test catches)
    if len(present) != len(values) - values.count(None) or "0" * length in set(present):
        return None
    return values


def _attribute_blobs(values: list[Any], cleaner: Cleaner) -> tuple[list[bytes], bytes] | None:
    """Each record's attributes as JSON when Cleaner.is_plain holds for all of them (a flat map of
    at most max_attributes short scalars under plain keys), and all of them joined with "\n"."""
    kinds = set(map(type, values))
    if not kinds <= {dict, _NONE}:
        return None
    maps = [value or {} for value in values] if _NONE in kinds else values
    if max(map(len, maps)) > cleaner.max_attributes:
        return None
    if not all(map(cleaner.is_plain_key, set().union(*maps))):
        return None
    scalars = list(chain.from_iterable(map(dict.values, maps)))
    if not set(map(type, scalars)) <= _SCALARS:
        return None
    try:
        blobs = list(map(orjson.dumps, maps))
    except orjson.JSONEncodeError:
        return None  # an integer beyond 64 bits (Cleaner stores it as text)
    joined = b"\n".join(blobs)
    if max(map(len, blobs)) > cleaner.max_value // 4 or b"\\u0000" in joined:
        return None  # a blob within the cap holds no string over it; orjson writes NUL as \u0000
    if joined.count(b"null") != scalars.count(None):
        return None  # orjson wrote a NaN or an infinity as null (Cleaner stores it as text)
    return blobs, joined


def decode_metrics(project_id: int, records: list[Any], cleaner: Cleaner) -> Batch:
    batch, window = Batch(), TimeWindow()
    for index, record in enumerate(records):
        try:
            batch.points.append(_point_row(project_id, record, window, cleaner, batch))
        except RecordRejected as exc:
            batch.reject(str(exc), index)
    return batch


def _point_row(
    project_id: int, record: Any, window: TimeWindow, cleaner: Cleaner, batch: Batch
) -> tuple[Any, ...]:
    if not isinstance(record, dict):
        raise RecordRejected("a metric record must be a JSON object")
    name, kind = record.get("name"), record.get("type")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LENGTH:
        raise RecordRejected(f"name must be a string of 1 to {MAX_NAME_LENGTH} characters")
    if not isinstance(kind, str) or kind not in METRIC_TYPES:
        raise RecordRejected("type must be counter, gauge or histogram")
    labels = record.get("labels") or {}
    if not isinstance(labels, dict):
        raise RecordRejected("labels must be an object")
    ts = _accepted_time(record.get("timestamp"), window)
    series_type, temporality, monotonic = METRIC_TYPES[kind]
    unit = record.get("unit")
    unit = unit if isinstance(unit, str) else ""
    labels_hash = add_series(
        batch,
        cleaner.text(name, 1024),
        series_type,
        cleaner.text(unit, 64),
        temporality,
        monotonic,
        cleaner.mapping(labels),
    )
    if kind == "histogram":
        return (project_id, labels_hash, ts, None, None, *_histogram(record.get("buckets"), record))
    value = _number(record.get("value"), "value")
    if kind == "counter" and value < 0:
        raise RecordRejected("a counter increment must not be negative")
    return (project_id, labels_hash, ts, None, value) + (None,) * 13  # no histogram fields, no exemplars


def _histogram(buckets: Any, record: dict[str, Any]) -> tuple[Any, ...]:
    if not isinstance(buckets, dict):
        raise RecordRejected("a histogram needs buckets: {bounds: [...], counts: [...]}")
    bounds, counts = buckets.get("bounds"), buckets.get("counts")
    if not isinstance(bounds, list) or not isinstance(counts, list):
        raise RecordRejected("buckets.bounds and buckets.counts must be arrays")
    bounds = [_number(b, "bounds") for b in bounds]
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
        raise RecordRejected("buckets.counts must be integers")
    check_histogram(bounds, counts)
    count = record.get("count", sum(counts))
    if not isinstance(count, int) or count != sum(counts):
        raise RecordRejected("count must equal the sum of the bucket counts")
    extras = [None if record.get(k) is None else _number(record.get(k), k) for k in ("sum", "min", "max")]
    return (count, *extras, bounds, counts) + (None,) * 7  # no exponential fields, no exemplars


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordRejected(f"{field} must be a number")
    try:
        value = float(value)
    except OverflowError:
        raise RecordRejected(f"{field} is out of range") from None
    if not math.isfinite(value):
        raise RecordRejected(f"{field} must be finite")
    return value
