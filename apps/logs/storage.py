"""The storage of logs_event and its count tables, owned here: partitions, the COPY that
ingestion writes through, and the retention drop. Nothing outside apps.logs names these tables.

Each day of logs is split again by level class (OTLP severity numbers: 1-8 trace/debug, 9-12
info, 13-24 warn/error/fatal, 0 unspecified), so retention drops a day's debug rows after 3 days
and its info rows after 14 while keeping warn+ for 30 — a DROP per class, never a DELETE
(DESIGN.md §4). Ranges rather than lists: the planner prunes them for `level >= 17` too, so a
search by level reads one leaf. Leaves are named <day partition>_<class>.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from apps.logs.counts import COUNT_TABLES
from apps.storage import partitions
from apps.storage.copy import copy_rows

TABLE = "logs_event"
DEBUG_LEVELS = tuple(range(1, 9))
WARN_LEVELS = tuple(range(13, 25))
LOG_LEVEL_LEAVES = {
    "unspecified": "FOR VALUES FROM (MINVALUE) TO (1)",
    "debug": "FOR VALUES FROM (1) TO (9)",
    "info": "FOR VALUES FROM (9) TO (13)",
    "warn": "FOR VALUES FROM (13) TO (MAXVALUE)",
}
LEAVES = ("RANGE (level)", LOG_LEVEL_LEAVES)
# The leaf of a day -> the level class whose retention bounds it (warn+ leaves go with the day).
LEAF_CLASSES = {"debug": "debug", "info": "info", "unspecified": "info"}

# The rows ingestion hands to copy_logs, column by column; ts and observed_ts go as int8: rows
# carry them as timestamptz's binary form (apps.ingestion.batch.PG_EPOCH).
COPY = (
    "COPY logs_event (project_id, ts, observed_ts, level, service, trace_id, span_id, message, attributes,"
    " resource) FROM STDIN (FORMAT BINARY)"
)
TYPES = ["int8", "int8", "int8", "int2", "text", "text", "text", "text", "jsonb", "jsonb"]
TS_COLUMN = 1


def partition_name(day: date) -> str:
    return partitions.partition_name(TABLE, day)


def ensure_partitions(days: Iterable[date]) -> None:
    """Day partitions (split by level class) for each day; a set lookup when they are known."""
    partitions.ensure_day_partitions(TABLE, days, leaves=LEAVES)


def copy_logs(cursor: Any, rows: list[tuple[Any, ...]]) -> None:
    """COPY rows laid out as COPY's columns, in the caller's transaction (psycopg cursor)."""
    copy_rows(cursor, COPY, TYPES, rows)


def drop_expired(*, debug: datetime, info: datetime, warn: datetime) -> list[str]:
    """Drop the partitions of logs and their counts whose rows are all older than the cutoff of
    their level class; returns the names dropped."""
    dropped = partitions.drop_expired(TABLE, warn)
    for table in COUNT_TABLES:
        dropped += partitions.drop_expired(table, warn)
    cutoffs = {"debug": debug, "info": info}
    for leaf, level_class in LEAF_CLASSES.items():
        for day in partitions.expired_partitions(TABLE, cutoffs[level_class]):
            name = f"{day}_{leaf}"
            if partitions.partition_exists(name) and partitions.drop_partition(name):
                dropped.append(name)
    return dropped
