"""OTLP messages → Batch rows. Hot path: one tuple per record, attributes serialised once."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from apps.ingestion.batch import PG_EPOCH_MICROS, Batch, TimeWindow, jsonb, ns_to_datetime, pg_micros
from apps.ingestion.cleaning import Cleaner, clean_resource
from apps.ingestion.native import LEVELS
from apps.ingestion.otlp import any_value, kv_dict, kv_dict_checked
from apps.ingestion.records import (
    EXP_GRID,
    RecordRejected,
    add_series,
    bytes_id,
    check_count,
    check_histogram,
    exponential_to_grid,
)

WINDOW_REASON = "timestamp outside the accepted window (30 days back, 1 day ahead)"


def _resource(cleaner: Cleaner, resource: Any) -> tuple[dict[str, Any], bytes, str]:
    attributes = clean_resource(cleaner, kv_dict(resource.attributes))
    service = attributes.get("service.name", "")
    return attributes, jsonb(attributes), service if isinstance(service, str) else str(service)


def _accepted(ns: int, window: TimeWindow) -> int:
    if not window.accepts(ns):
        raise RecordRejected(WINDOW_REASON)
    return ns


def _time(ns: int, window: TimeWindow) -> Any:
    return ns_to_datetime(_accepted(ns, window))


def _log_time(ns: int, window: TimeWindow) -> int:
    """As _time, in a log row's representation (apps.ingestion.batch.PG_EPOCH)."""
    return pg_micros(_accepted(ns, window))


RowFunction = Callable[[Any], tuple[Any, ...]]


def _decode_each(
    project_id: int,
    cleaner: Cleaner,
    resources: Any,
    scopes_field: str,
    records_field: str,
    rows_for: Callable[[int, TimeWindow, Cleaner, str, bytes, dict[str, Any]], RowFunction],
) -> tuple[Batch, list[tuple[Any, ...]]]:
    """Walk resource → scope → record (the shape of every OTLP export), collecting rows and
    counting each rejected record by its position, for partial_success. `rows_for` gives the row
    function of one scope's records (what they share is bound once)."""
    batch, window, index = Batch(), TimeWindow(), 0
    rows: list[tuple[Any, ...]] = []
    for resource_group in resources:
        _, resource_json, service = _resource(cleaner, resource_group.resource)
        for scope_group in getattr(resource_group, scopes_field):
            scope = _scope(cleaner, scope_group.scope)
            make_row = rows_for(project_id, window, cleaner, service, resource_json, scope)
            for record in getattr(scope_group, records_field):
                try:
                    rows.append(make_row(record))
                except RecordRejected as exc:
                    batch.reject(str(exc), index)
                index += 1
    return batch, rows


def _scope(cleaner: Cleaner, scope: Any) -> dict[str, Any]:
    """What a record keeps of its instrumentation scope: `otel.scope.name`, and `.version` and
    `.attributes` when sent (cleaned once per scope, added to each record's attributes)."""
    found: dict[str, Any] = {}
    if scope.name:
        found["otel.scope.name"] = cleaner.text(scope.name, 256)
    if scope.version:
        found["otel.scope.version"] = cleaner.text(scope.version, 256)
    if len(scope.attributes):
        found["otel.scope.attributes"] = cleaner.mapping(kv_dict(scope.attributes))
    return found


# Log data model: a severity text that only names its number says nothing more; any other is kept.
SEVERITY_NAMES = {
    number: f"{name}{number - base + 1 if number > base else ''}"
    for base, name in ((1, "TRACE"), (5, "DEBUG"), (9, "INFO"), (13, "WARN"), (17, "ERROR"), (21, "FATAL"))
    for number in range(base, base + 4)
}
_says_more: dict[tuple[str, int], bool] = {}


def severity_text_says_more(text: str, number: int) -> bool:
    """True when `text` is not just the name of `number` (WARN, warning, Error, ... are not)."""
    verdict = _says_more.get((text, number))
    if verdict is None:
        verdict = text.upper() != SEVERITY_NAMES.get(number) and LEVELS.get(text.lower()) != number
        if len(_says_more) < 10_000:
            _says_more[(text, number)] = verdict
    return verdict


def _log_extras(record: Any, level: int, attributes: dict[str, Any]) -> None:
    """The log record fields with no column of their own, as attributes when they carry something."""
    text = record.severity_text
    if text and severity_text_says_more(text, level):
        attributes.setdefault("otel.severity_text", text)
    if record.event_name:
        attributes.setdefault("event.name", record.event_name)
    if record.dropped_attributes_count:
        attributes.setdefault("otel.dropped_attributes_count", record.dropped_attributes_count)
    if record.flags:  # the W3C trace flags of the record's span context (bit 0: sampled)
        attributes.setdefault("otel.flags", record.flags)


def decode_logs(project_id: int, request: Any, cleaner: Cleaner) -> Batch:
    def decode() -> Batch:
        batch, rows = _decode_each(
            project_id, cleaner, request.resource_logs, "scope_logs", "log_records", _log_rows
        )
        batch.logs = rows
        return batch

    return decode() if cleaner.body_is_clean else cleaner.optimistically(decode)


def _log_rows(
    project_id: int,
    window: TimeWindow,
    cleaner: Cleaner,
    service: str,
    resource_json: bytes,
    scope: dict[str, Any],
) -> RowFunction:
    """The row function of one scope's log records. When the body's text needs no masking
    (`Cleaner.body_is_clean`), a record of the common shape (a short string body, ids absent or
    well formed, a severity number, times in the window, at most max_attributes short scalar
    attributes under plain keys) is built here with nothing but reads and checks; any other record
    goes to `_log_row`, which handles every case. Both store the same row
    (tests/ingestion/test_otlp_plain_rows.py); this path only spares the calls per record."""
    general = partial(_log_row, project_id, window, cleaner, service, resource_json, scope)
    if not (cleaner.body_is_clean and cleaner.is_fast) or cleaner.truncated:
        return general  # (truncated: a scope field was cut, which flags the next record)
    earliest, latest, now = window.earliest_ns, window.latest_ns, window.now_micros
    max_message, max_attributes = cleaner.max_message // 4, cleaner.max_attributes  # // 4: UTF-8 bytes
    short, is_plain_key = cleaner.max_value // 4, cleaner.is_plain_key
    # Keys already found plain, checked a record at a time by one C-level set operation instead
    # of a memo lookup per attribute (the same few keys repeat across a request's records).
    plain_keys = {key for key, plain in cleaner.plain_keys.items() if plain}
    dumps = orjson.dumps
    says_more = severity_text_says_more
    scope_items = list(scope.items())

    def plain_row(record: Any) -> tuple[Any, ...]:
        observed_ns, ts_ns = record.observed_time_unix_nano, record.time_unix_nano
        if observed_ns:
            if not earliest <= observed_ns <= latest:
                return general(record)
            observed = observed_ns // 1000 - PG_EPOCH_MICROS  # as pg_micros
        else:
            observed = now
        if ts_ns and ts_ns != observed_ns:
            if not earliest <= ts_ns <= latest:
                return general(record)
            ts = ts_ns // 1000 - PG_EPOCH_MICROS
        else:
            ts = observed
        body = record.body
        if _which(body, "value") != "string_value":
            return general(record)
        message = body.string_value
        level, trace_id, span_id = record.severity_number, record.trace_id, record.span_id
        if len(message) > max_message or "\x00" in message or not level:
            return general(record)
        text = record.severity_text  # (the SDKs send the number's name: one memo lookup)
        if (text and says_more(text, level)) or record.event_name or record.dropped_attributes_count:
            return general(record)
        if len(trace_id) == 16 and trace_id != _ZERO_TRACE:
            trace = trace_id.hex()
        elif trace_id:
            return general(record)
        else:
            trace = None
        if len(span_id) == 8 and span_id != _ZERO_SPAN:
            span = span_id.hex()
        elif span_id:
            return general(record)
        else:
            span = None
        items = record.attributes
        if len(items) > max_attributes:
            return general(record)
        attributes: dict[str, Any] = {}
        for kv in items[:]:  # kv_dict_checked's loop ([:]: see kv_dict), leaving at the first non-plain value
            key, value = kv.key, kv.value
            kind = _which(value, "value")
            if kind == "string_value":
                text = attributes[key] = value.string_value
                if len(text) > short or "\x00" in text:
                    return general(record)
            elif kind == "int_value":
                attributes[key] = value.int_value
            elif kind == "double_value":
                number = attributes[key] = value.double_value
                if number - number != 0:  # NaN or ±Inf
                    return general(record)
            elif kind == "bool_value":
                attributes[key] = value.bool_value
            else:
                return general(record)
        if not plain_keys.issuperset(attributes):
            for key in attributes:
                if not is_plain_key(key):
                    return general(record)
                plain_keys.add(key)
        for key, value in scope_items:
            if key not in attributes:
                attributes[key] = value
        flags = record.flags  # (SDKs set it on every record in a sampled span: kept inline)
        if flags and "otel.flags" not in attributes:
            attributes["otel.flags"] = flags
        return (
            project_id,
            ts,
            observed,
            level,
            service,
            trace,
            span,
            message,
            b"\x01" + dumps(attributes),
            resource_json,
        )

    return plain_row


def _log_row(
    project_id: int,
    window: TimeWindow,
    cleaner: Cleaner,
    service: str,
    resource_json: bytes,
    scope: dict[str, Any],
    record: Any,
) -> tuple[Any, ...]:
    observed_ns, ts_ns = record.observed_time_unix_nano, record.time_unix_nano
    observed = _log_time(observed_ns, window) if observed_ns else window.now_micros
    ts = observed if not ts_ns or ts_ns == observed_ns else _log_time(ts_ns, window)
    body = record.body
    if body.WhichOneof("value") == "string_value":
        message = cleaner.message(body.string_value, verbatim=True)
    else:
        value = any_value(body)
        message = cleaner.message("" if value is None else orjson.dumps(cleaner.value(value)).decode())
    level = record.severity_number or LEVELS.get(record.severity_text.lower(), 0)
    attributes, plain = kv_dict_checked(record.attributes, cleaner)
    for key, value in scope.items():
        attributes.setdefault(key, value)
    extras = len(attributes)
    _log_extras(record, level, attributes)
    plain = plain and len(attributes) == extras  # record fields are not cleaned yet: not plain
    return (
        project_id,
        ts,
        observed,
        level,
        service,
        _trace_id(record.trace_id),
        _span_id(record.span_id),
        message,
        cleaner.attributes_jsonb(attributes, plain, verbatim=True),
        resource_json,
    )


_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)
_which = AnyValue.WhichOneof  # the method itself: value.WhichOneof would look the name up first


def _trace_id(value: bytes) -> str | None:
    # The common case inline (16 non-zero bytes); bytes_id explains every other case.
    return value.hex() if len(value) == 16 and value != _ZERO_TRACE else bytes_id(value, 16, "trace_id")


def _span_id(value: bytes) -> str | None:
    return value.hex() if len(value) == 8 and value != _ZERO_SPAN else bytes_id(value, 8, "span_id")


def decode_traces(project_id: int, request: Any, cleaner: Cleaner) -> Batch:
    batch, rows = _decode_each(
        project_id, cleaner, request.resource_spans, "scope_spans", "spans", _span_rows
    )
    batch.spans = rows
    return batch


def _span_rows(
    project_id: int,
    window: TimeWindow,
    cleaner: Cleaner,
    service: str,
    resource_json: bytes,
    scope: dict[str, Any],
) -> RowFunction:
    return partial(_span_row, project_id, window, cleaner, service, resource_json, scope)


def _span_row(
    project_id: int,
    window: TimeWindow,
    cleaner: Cleaner,
    service: str,
    resource_json: bytes,
    scope: dict[str, Any],
    span: Any,
) -> tuple[Any, ...]:
    trace_id = bytes_id(span.trace_id, 16, "trace_id")
    span_id = bytes_id(span.span_id, 8, "span_id")
    if trace_id is None or span_id is None:
        raise RecordRejected("trace_id and span_id must not be empty or all zero")
    start_ns, end_ns = span.start_time_unix_nano, span.end_time_unix_nano
    if end_ns < start_ns:
        raise RecordRejected("start time is after end time")
    start, end = _time(start_ns, window), _time(end_ns, window)
    events, links = _events_and_links(span, cleaner)
    attributes = kv_dict(span.attributes)
    for key, value in scope.items():
        attributes.setdefault(key, value)
    if span.dropped_attributes_count:
        attributes.setdefault("otel.dropped_attributes_count", span.dropped_attributes_count)
    return (
        project_id,
        trace_id,
        span_id,
        bytes_id(span.parent_span_id, 8, "parent_span_id"),
        cleaner.text(span.name, 1024),
        span.kind,
        start,
        end,
        end_ns - start_ns,
        span.status.code,
        cleaner.text(span.status.message, 4096),
        service,
        cleaner.text(span.trace_state, 1024),
        cleaner.attributes_jsonb(attributes),
        resource_json,
        events,
        links,
    )


def _events_and_links(span: Any, cleaner: Cleaner) -> tuple[bytes, bytes]:
    events = [
        {
            "name": cleaner.text(event.name, 1024),
            "time_unix_nano": event.time_unix_nano,
            "attributes": cleaner.mapping(kv_dict(event.attributes)),
        }
        for event in span.events[:]  # [:]: see otlp.kv_dict
    ]
    links = [
        {
            "trace_id": bytes_id(link.trace_id, 16, "link trace_id"),
            "span_id": bytes_id(link.span_id, 8, "link span_id"),
            "trace_state": cleaner.text(link.trace_state, 1024),
            "attributes": cleaner.mapping(kv_dict(link.attributes)),
        }
        for link in span.links[:]
    ]
    return jsonb(events), jsonb(links)


def decode_metrics(project_id: int, request: Any, cleaner: Cleaner) -> Batch:
    batch, window, index = Batch(), TimeWindow(), 0
    for resource_metrics in request.resource_metrics:
        resource, _, _ = _resource(cleaner, resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                index = _decode_metric(project_id, metric, resource, window, cleaner, batch, index)
    return batch


def _decode_metric(
    project_id: int,
    metric: Any,
    resource: dict[str, Any],
    window: TimeWindow,
    cleaner: Cleaner,
    batch: Batch,
    index: int,
) -> int:
    kind = metric.WhichOneof("data")
    if kind not in _POINT_BUILDERS:
        points = len(getattr(metric, kind).data_points) if kind else 1
        for _ in range(points):
            batch.reject(f"metric {metric.name[:100]!r}: {kind or 'no data'} is not supported", index)
            index += 1
        return index
    data = getattr(metric, kind)
    temporality = getattr(data, "aggregation_temporality", 0)
    monotonic = getattr(data, "is_monotonic", False)
    name, unit = cleaner.text(metric.name, 1024), cleaner.text(metric.unit, 64)
    description = cleaner.text(metric.description, 4096) if metric.description else ""
    for point in data.data_points:
        try:
            if not metric.name:
                raise RecordRejected("metric name must not be empty")
            labels = {**resource, **cleaner.mapping(kv_dict(point.attributes))}
            labels_hash = add_series(batch, name, kind, unit, temporality, monotonic, labels, description)
            ts = _time(point.time_unix_nano, window) if point.time_unix_nano else window.now
            start = ns_to_datetime(point.start_time_unix_nano) if point.start_time_unix_nano else None
            exemplars = _exemplars(point.exemplars, window, cleaner) if len(point.exemplars) else None
            batch.points.append(
                (project_id, labels_hash, ts, start, *_POINT_BUILDERS[kind](point), exemplars)
            )
        except RecordRejected as exc:
            batch.reject(f"metric {metric.name[:100]!r}: {exc}", index)
        index += 1
    return index


def _exemplars(exemplars: Any, window: TimeWindow, cleaner: Cleaner) -> bytes:
    """A point's exemplars as one jsonb array: the measurement, when it was taken, the span it was
    taken in (what a chart links to) and its filtered attributes. An exemplar without a time is
    shown at its point's time; one outside the accepted window rejects its point, like a record."""
    found = []
    for exemplar in exemplars[:]:  # [:]: see otlp.kv_dict
        found.append(
            {
                "time_unix_nano": _accepted(exemplar.time_unix_nano, window)
                if exemplar.time_unix_nano
                else None,
                "value": exemplar.as_double
                if exemplar.WhichOneof("value") == "as_double"
                else float(exemplar.as_int),
                "trace_id": bytes_id(exemplar.trace_id, 16, "exemplar trace_id"),
                "span_id": bytes_id(exemplar.span_id, 8, "exemplar span_id"),
                "attributes": cleaner.mapping(kv_dict(exemplar.filtered_attributes)),
            }
        )
    return jsonb(found)


_NO_HISTOGRAM = (None,) * 12


def _number_point(point: Any) -> tuple[Any, ...]:
    if point.flags & 1:  # FLAG_NO_RECORDED_VALUE: a staleness marker, not a zero
        return (None, *_NO_HISTOGRAM)
    value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
    return (value, *_NO_HISTOGRAM)


def _optional(point: Any, field: str) -> float | None:
    return getattr(point, field) if point.HasField(field) else None


def _histogram_point(point: Any) -> tuple[Any, ...]:
    bounds, counts = list(point.explicit_bounds), list(point.bucket_counts)
    check_histogram(bounds, counts)
    return (
        None,
        check_count(point.count),
        _optional(point, "sum"),
        _optional(point, "min"),
        _optional(point, "max"),
        bounds,
        counts,
    ) + (None,) * 6


def _exponential_point(point: Any) -> tuple[Any, ...]:
    if not -10 <= point.scale <= 20:
        raise RecordRejected("exponential histogram scale must be between -10 and 20")
    positive, negative = list(point.positive.bucket_counts), list(point.negative.bucket_counts)
    for count in (point.count, point.zero_count, *positive, *negative):
        check_count(count)
    return (
        None,
        point.count,
        _optional(point, "sum"),
        _optional(point, "min"),
        _optional(point, "max"),
        EXP_GRID,
        exponential_to_grid(
            point.scale, point.zero_count, point.positive.offset, positive, negative, point.negative.offset
        ),
        point.scale,
        point.zero_count,
        point.positive.offset,
        positive,
        point.negative.offset,
        negative,
    )


_POINT_BUILDERS = {
    "gauge": _number_point,
    "sum": _number_point,
    "histogram": _histogram_point,
    "exponential_histogram": _exponential_point,
}
