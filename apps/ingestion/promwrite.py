"""Prometheus remote-write 1.0: a snappy-compressed protobuf `prometheus.WriteRequest` into a Batch.

The message classes are built at import from a descriptor written here (the fields of
prometheus/prompb's types.proto and remote.proto that remote-write 1.0 sends): there is no
maintained PyPI package of them, and six small messages do not justify vendoring one.

Samples become Vigil series: the `__name__` label is the metric name, the other labels the
series' labels. Prometheus sends no type with a sample (metadata comes in requests of its own),
so the kind is read from the metadata it sent (remembered per project for an hour), else from
the naming conventions: `_total` (and `_count`, `_sum`, `_bucket` of a histogram or summary) are counters,
stored cumulative and monotonic so that `rate` and `sum` queries take increases and handle
resets (apps/metrics/rollups.py); everything else is a gauge. A `_bucket` family with `le`
labels whose metadata says HISTOGRAM becomes one Vigil histogram per timestamp (bucket counts
de-cumulated, `_sum`/`_count` folded in). Staleness markers (a special NaN) carry no value and are
skipped, as are other NaN and infinite samples.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from itertools import pairwise
from typing import Any

import cramjam
from django.core.cache import cache
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from apps.ingestion.batch import Batch, TimeWindow, ns_to_datetime
from apps.ingestion.cleaning import Cleaner
from apps.ingestion.errors import IngestError
from apps.ingestion.records import RecordRejected, add_series, check_histogram

COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
logger = logging.getLogger(__name__)
METADATA_SECONDS = 3600
# MetricMetadata.MetricType
COUNTER, GAUGE, HISTOGRAM, GAUGE_HISTOGRAM, SUMMARY = 1, 2, 3, 4, 5


def _message_classes() -> dict[str, Any]:
    F = descriptor_pb2.FieldDescriptorProto
    optional, repeated = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    messages: dict[str, list[tuple[str, int, int, int, str]]] = {
        "Label": [("name", 1, F.TYPE_STRING, optional, ""), ("value", 2, F.TYPE_STRING, optional, "")],
        "Sample": [("value", 1, F.TYPE_DOUBLE, optional, ""), ("timestamp", 2, F.TYPE_INT64, optional, "")],
        "Exemplar": [
            ("labels", 1, F.TYPE_MESSAGE, repeated, ".prometheus.Label"),
            ("value", 2, F.TYPE_DOUBLE, optional, ""),
            ("timestamp", 3, F.TYPE_INT64, optional, ""),
        ],
        "TimeSeries": [
            ("labels", 1, F.TYPE_MESSAGE, repeated, ".prometheus.Label"),
            ("samples", 2, F.TYPE_MESSAGE, repeated, ".prometheus.Sample"),
            ("exemplars", 3, F.TYPE_MESSAGE, repeated, ".prometheus.Exemplar"),
        ],
        "MetricMetadata": [
            ("type", 1, F.TYPE_INT32, optional, ""),  # an enum on the wire: a varint either way
            ("metric_family_name", 2, F.TYPE_STRING, optional, ""),
            ("help", 4, F.TYPE_STRING, optional, ""),
            ("unit", 5, F.TYPE_STRING, optional, ""),
        ],
        "WriteRequest": [
            ("timeseries", 1, F.TYPE_MESSAGE, repeated, ".prometheus.TimeSeries"),
            ("metadata", 3, F.TYPE_MESSAGE, repeated, ".prometheus.MetricMetadata"),
        ],
    }
    file = descriptor_pb2.FileDescriptorProto(
        name="vigil/prompb.proto", package="prometheus", syntax="proto3"
    )
    for name, fields in messages.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            message.field.add(
                name=field_name, number=number, type=kind, label=label, type_name=type_name or None
            )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
        for name in messages
    }


MESSAGES = _message_classes()
WriteRequest = MESSAGES["WriteRequest"]


def decompress(raw: bytes, limit: int) -> bytes:
    """Snappy block format (what remote-write sends). The uncompressed length is the block's
    leading varint: checked against `limit` before anything is inflated."""
    length, shift = 0, 0
    for byte in raw[:10]:
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    else:
        raise IngestError(400, "Malformed snappy body.")
    if length > limit:
        raise IngestError(413, f"Decompressed body larger than {limit} bytes.", {"limit": limit})
    try:
        return bytes(cramjam.snappy.decompress_raw(raw))
    except cramjam.DecompressionError as exc:
        raise IngestError(400, f"Malformed snappy body: {exc}.") from None


def parse(body: bytes) -> Any:
    request = WriteRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise IngestError(400, f"Malformed remote-write protobuf: {exc or 'cannot decode'}.") from None
    return request


def _kinds(project_id: int, request: Any) -> dict[str, int]:
    """Metric family -> MetricMetadata type. Prometheus sends metadata in requests of its own (once
    a minute by default), not with the samples: what it sent is remembered per project in the
    cache (Redis) for METADATA_SECONDS. The cache failing only means the naming rules decide."""
    sent = {meta.metric_family_name: meta.type for meta in request.metadata if meta.metric_family_name}
    families = {_family(_name(series)) for series in request.timeseries} - sent.keys()
    try:
        if sent:
            cache.set_many(
                {_metadata_key(project_id, name): kind for name, kind in sent.items()}, METADATA_SECONDS
            )
        remembered = (
            cache.get_many([_metadata_key(project_id, family) for family in families]) if families else {}
        )
    except Exception:  # a cache outage must not lose samples
        logger.warning("remote-write metadata cache unavailable; metric kinds follow the naming rules")
        remembered = {}
    prefix = len(_metadata_key(project_id, ""))
    return {**{key[prefix:]: kind for key, kind in remembered.items()}, **sent}


def _metadata_key(project_id: int, family: str) -> str:
    return f"prom-meta:{project_id}:{family}"


def _name(series: Any) -> str:
    for label in series.labels:
        if label.name == "__name__":
            return str(label.value)
    return ""


def _family(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum", "_total"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _is_counter(name: str, kinds: dict[str, int]) -> bool:
    kind = kinds.get(name, kinds.get(_family(name)))
    if kind is not None:
        return kind in (COUNTER, HISTOGRAM, SUMMARY) and (kind == COUNTER or name != _family(name))
    return name.endswith(COUNTER_SUFFIXES)


def decode(project_id: int, request: Any, cleaner: Cleaner) -> Batch:
    batch, window, kinds = Batch(), TimeWindow(), _kinds(project_id, request)
    histograms: dict[tuple[str, bytes], dict[int, dict[str, Any]]] = defaultdict(dict)
    index = 0
    for series in request.timeseries:
        labels = {label.name: label.value for label in series.labels}
        name = labels.pop("__name__", "")
        family = _family(name)
        if name.endswith("_bucket") and "le" in labels and kinds.get(family) == HISTOGRAM:
            index = _collect_bucket(series, name, family, labels, histograms, index, batch)
            continue
        if family != name and kinds.get(family) == HISTOGRAM and name[len(family) :] in ("_sum", "_count"):
            index = _collect_part(series, name[len(family) + 1 :], family, labels, histograms, index, batch)
            continue
        index = _samples(project_id, series, name, labels, kinds, window, cleaner, batch, index)
    _histograms(project_id, histograms, window, cleaner, batch)
    return batch


def _samples(
    project_id: int,
    series: Any,
    name: str,
    labels: dict[str, str],
    kinds: dict[str, int],
    window: TimeWindow,
    cleaner: Cleaner,
    batch: Batch,
    index: int,
) -> int:
    counter = _is_counter(name, kinds)
    labels_hash = None
    for sample in series.samples:
        index += 1
        value = sample.value
        if not math.isfinite(value):
            continue  # a staleness marker (the series ended) or NaN/Inf: nothing to chart or sum
        try:
            if not name:
                raise RecordRejected("a series needs a __name__ label")
            ts = _time(sample.timestamp, window)
            if labels_hash is None:
                labels_hash = add_series(
                    batch,
                    cleaner.text(name, 1024),
                    "sum" if counter else "gauge",
                    "",
                    2 if counter else 0,  # cumulative: Prometheus counters are running totals
                    counter,
                    cleaner.mapping(labels),
                )
            batch.points.append((project_id, labels_hash, ts, None, value) + (None,) * 13)
        except RecordRejected as exc:
            batch.reject(f"series {name[:100]!r}: {exc}", index - 1)
    return index


def _time(ms: int, window: TimeWindow) -> Any:
    ns = ms * 1_000_000
    if not window.accepts(ns):
        raise RecordRejected("timestamp outside the accepted window (30 days back, 1 day ahead)")
    return ns_to_datetime(ns)


def _group_key(family: str, labels: dict[str, str]) -> tuple[str, bytes]:
    return family, repr(sorted(labels.items())).encode()


def _collect_bucket(
    series: Any,
    name: str,
    family: str,
    labels: dict[str, str],
    histograms: dict[tuple[str, bytes], dict[int, dict[str, Any]]],
    index: int,
    batch: Batch,
) -> int:
    try:
        bound = float(labels.pop("le"))
    except ValueError:
        batch.reject(f"series {name[:100]!r}: le is not a number", index)
        return index + len(series.samples)
    group = histograms[_group_key(family, labels)]
    for sample in series.samples:
        index += 1
        if math.isfinite(sample.value):
            point = group.setdefault(sample.timestamp, {"labels": labels, "buckets": {}})
            point["buckets"][bound] = sample.value
    return index


def _collect_part(
    series: Any,
    part: str,
    family: str,
    labels: dict[str, str],
    histograms: dict[tuple[str, bytes], dict[int, dict[str, Any]]],
    index: int,
    batch: Batch,
) -> int:
    group = histograms[_group_key(family, labels)]
    for sample in series.samples:
        index += 1
        if math.isfinite(sample.value):
            point = group.setdefault(sample.timestamp, {"labels": labels, "buckets": {}})
            point[part] = sample.value
    return index


def _histograms(
    project_id: int,
    histograms: dict[tuple[str, bytes], dict[int, dict[str, Any]]],
    window: TimeWindow,
    cleaner: Cleaner,
    batch: Batch,
) -> None:
    """Prometheus buckets are cumulative (`le` = at most); Vigil's hold each bucket's own count,
    with the +Inf bucket last."""
    for (family, _), points in histograms.items():
        for stamp, point in sorted(points.items()):
            try:
                cumulative = sorted(point["buckets"].items())
                if not cumulative or cumulative[-1][0] != math.inf:
                    raise RecordRejected('a histogram needs its le="+Inf" bucket')
                bounds = [bound for bound, _ in cumulative[:-1]]
                totals = [int(count) for _, count in cumulative]
                counts = [totals[0]] + [b - a for a, b in pairwise(totals)]
                if min(counts) < 0:
                    raise RecordRejected("bucket counts must not decrease with le")
                check_histogram(bounds, counts)
                ts = _time(stamp, window)
                labels_hash = add_series(
                    batch,
                    cleaner.text(family, 1024),
                    "histogram",
                    "",
                    2,
                    False,
                    cleaner.mapping(point["labels"]),
                )
                row = (None, totals[-1], point.get("sum"), None, None, bounds, counts) + (None,) * 7
                batch.points.append((project_id, labels_hash, ts, None, *row))
            except RecordRejected as exc:
                batch.reject(f"histogram {family[:100]!r}: {exc}")
