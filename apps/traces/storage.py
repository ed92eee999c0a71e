"""The storage of traces_span, owned here: day partitions, the COPY that ingestion writes
through, and the retention drop. Nothing outside apps.traces names the table."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from apps.storage import partitions
from apps.storage.copy import copy_rows

TABLE = "traces_span"
COPY = (
    "COPY traces_span (project_id, trace_id, span_id, parent_span_id, name, kind, start_ts, end_ts,"
    " duration_ns, status_code, status_message, service, trace_state, attributes, resource, events, links)"
    " FROM STDIN (FORMAT BINARY)"
)
TYPES = (
    "int8 text text text text int2 timestamptz timestamptz int8 int2 text text text jsonb jsonb jsonb jsonb"
).split()
START_COLUMN = 6  # start_ts: the partition key


def partition_name(day: date) -> str:
    return partitions.partition_name(TABLE, day)


def ensure_partitions(days: Iterable[date]) -> None:
    partitions.ensure_day_partitions(TABLE, days)


def copy_spans(cursor: Any, rows: list[tuple[Any, ...]]) -> None:
    """COPY rows laid out as COPY's columns, in the caller's transaction (psycopg cursor)."""
    copy_rows(cursor, COPY, TYPES, rows)


def drop_expired(cutoff: datetime) -> list[str]:
    """Drop the day partitions whose spans all started before `cutoff`; returns the names."""
    return partitions.drop_expired(TABLE, cutoff)
