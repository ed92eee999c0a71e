"""Indexes of logs_event built in the background, on data no longer written.

Two indexes that searches need would make every ingested row expensive to write, so rows get them
only once their time has passed:

Trigram GIN on the message, for `message ILIKE '%word%'`. Measured on this machine, a GIN index on
the message cut raw COPY from ~140,000 to ~18,000 rows/s (pg_trgm). Built in two steps:
  * sealed partitions (the day ended SEAL_DELAY ago) get `USING gin (message gin_trgm_ops)`;
  * the open (today's) partition gets one *partial* index per finished 1-hour slice,
    `... WHERE ts >= '<slice start>' AND ts < '<slice end>'`. A COPY of current rows only
    evaluates those predicates (false) and never touches the GIN; only late rows for a finished
    slice pay for it. Once the day is sealed, the full index replaces its slice indexes.
Both serve the exact predicate the search compiles, so answers are the same with or without them.
apps.logs.selectors splits text searches at SLICE boundaries so the planner can prove each piece
lies inside one slice predicate and use its index; what is left unindexed is the newest slice: at
most SLICE + SLICE_SEAL_DELAY of one day's data.

B-tree on (project_id, trace_id), for the trace view and `trace_id:` searches. Random trace ids land
on random leaf pages: on the partitions being written it cost ~1.5 us of PostgreSQL CPU per row, a
quarter of the database's work per log record (migration 0004). Those partitions are served by the
BRIN bloom index `logs_event_trace_bloom` instead, which a COPY does not touch; sealed partitions get
the exact B-tree here. `summarize_trace_blooms` (every minute) summarises the bloom's new page
ranges, so a lookup never reads a long unsummarised tail page by page: autovacuum's autosummarize
requests are dropped once its queue is full, which high insert rates reach.

Built with CREATE INDEX CONCURRENTLY (no write lock); an interrupted build leaves an INVALID
index, which the next run drops and rebuilds. A session advisory lock keeps two workers from
building at once. Partition names come from pg_class and match _PARTITION_RE, timestamps are
formatted by this module: nothing user-supplied reaches the DDL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import OperationalError, connection, transaction

INDEX_LOCK_KEY = 0x5647_4C54  # "VGLT"
SEAL_DELAY = timedelta(minutes=30)  # after midnight, stragglers for the past day still arrive
# One hour divides a day (slices never straddle partitions) and bounds what a search must scan
# without an index to ~70 minutes of data; a COPY pays one cheap predicate test per slice index.
SLICE = timedelta(hours=1)
SLICE_SEAL_DELAY = timedelta(minutes=10)
TRIGRAM = "USING gin (message gin_trgm_ops)"
TRACE = "(project_id, trace_id)"
TRACE_BLOOM = "logs_event_trace_bloom"  # the parent of the open partitions' bloom indexes (migration 0004)
# Leaves only: a day is either one plain partition (made before level sub-partitioning) or a
# partitioned table whose leaves are its level classes (apps.logs.storage).
_PARTITION_RE = re.compile(r"^logs_event_p(\d{8})(?:_(?:unspecified|debug|info|warn))?$")


@dataclass(frozen=True)
class IndexJob:
    partition: str
    name: str
    definition: str = TRIGRAM  # TRIGRAM or TRACE
    start: datetime | None = None  # a slice; None for the whole partition
    end: datetime | None = None

    def create_sql(self) -> str:
        conditions = ["trace_id IS NOT NULL"] if self.definition == TRACE else []
        if self.start is not None and self.end is not None:
            conditions.append(f"ts >= '{self.start.isoformat()}' AND ts < '{self.end.isoformat()}'")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return (
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {self.name}"
            f" ON {self.partition} {self.definition}{where}"
        )


def index_name(partition: str) -> str:
    return f"{partition}_message_trgm"


def trace_index_name(partition: str) -> str:
    return f"{partition}_trace"


def slice_index_name(partition: str, start: datetime) -> str:
    return f"{partition}_message_trgm_h{start:%H}"


def _partition_days() -> list[tuple[str, datetime]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_partition_tree('logs_event') t JOIN pg_class c ON c.oid = t.relid"
            " WHERE t.isleaf"
        )
        names = [row[0] for row in cursor.fetchall()]
    days = []
    for name in names:
        match = _PARTITION_RE.match(name)
        if match:
            days.append((name, datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC)))
    return sorted(days, key=lambda item: item[1], reverse=True)


def _is_sealed(day: datetime, now: datetime) -> bool:
    return day + timedelta(days=1) + SEAL_DELAY <= now


def sealed_partitions(now: datetime) -> list[str]:
    """Leaf partitions of logs_event whose whole day ended at least SEAL_DELAY ago, newest first."""
    return [name for name, day in _partition_days() if _is_sealed(day, now)]


def pending_jobs(now: datetime) -> list[IndexJob]:
    """Indexes to build, most useful first: today's finished slices, then sealed days, newest first
    (each day's trace B-tree before its trigram index: it is quicker to build)."""
    slices, wholes = [], []
    for partition, day in _partition_days():
        if _is_sealed(day, now):
            wholes.append(IndexJob(partition, trace_index_name(partition), TRACE))
            wholes.append(IndexJob(partition, index_name(partition)))
            continue
        start = day
        while start < day + timedelta(days=1) and start + SLICE + SLICE_SEAL_DELAY <= now:
            name = slice_index_name(partition, start)
            slices.append(IndexJob(partition, name, TRIGRAM, start, start + SLICE))
            start += SLICE
    slices.sort(key=lambda job: job.start or now, reverse=True)
    return slices + wholes


def index_state(name: str) -> str:
    """'missing', 'valid' or 'invalid' (a CONCURRENTLY build that died)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
            " WHERE c.relname = %s",
            [name],
        )
        row = cursor.fetchone()
    if row is None:
        return "missing"
    return "valid" if row[0] else "invalid"


def build_indexes(now: datetime | None = None, max_builds: int = 2) -> list[str]:
    """Build missing trigram and trace indexes; returns the names of those built."""
    if connection.in_atomic_block:
        raise RuntimeError("CREATE INDEX CONCURRENTLY cannot run inside a transaction")
    now = now or datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [INDEX_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return []
    try:
        built = _build(pending_jobs(now), max_builds)
        _drop_slices_of_sealed(now)
        return built
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [INDEX_LOCK_KEY])


def _build(jobs: list[IndexJob], max_builds: int) -> list[str]:
    built: list[str] = []
    for job in jobs:
        if len(built) >= max_builds:
            break
        state = index_state(job.name)
        if state == "valid":
            continue
        with connection.cursor() as cursor:
            if state == "invalid":
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {job.name}")
            cursor.execute(job.create_sql())
        built.append(job.name)
    return built


def _drop_slices_of_sealed(now: datetime) -> None:
    """Slice indexes are redundant once their partition's full index is valid."""
    for partition in sealed_partitions(now):
        if index_state(index_name(partition)) != "valid":
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname FROM pg_class WHERE relkind = 'i' AND relname LIKE %s",
                [f"{index_name(partition)}\\_h%"],
            )
            names = [row[0] for row in cursor.fetchall()]
            for name in names:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def trace_bloom_days() -> list[tuple[str, datetime]]:
    """The newest days of logs_event whose leaves are not all served by a valid trace B-tree yet
    (today, the days made ahead, a sealed day until its build): (day table, day), oldest first.
    The planner never chooses the bloom index for them by itself: trace ids are random, so it
    estimates a BRIN lookup as reading the whole table and scans 8 hours of a busy day (~60 ms)
    instead of ~1 ms through the bloom. The trace view reads these days through a query that
    leaves it no other path (apps.logs.selectors.trace_logs)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, coalesce(i.indisvalid, false) FROM pg_partition_tree('logs_event') t"
            " JOIN pg_class c ON c.oid = t.relid"
            " LEFT JOIN pg_class x ON x.relname = c.relname || '_trace' AND x.relnamespace = c.relnamespace"
            " LEFT JOIN pg_index i ON i.indexrelid = x.oid WHERE t.isleaf"
        )
        leaves = cursor.fetchall()
    covered: dict[datetime, bool] = {}
    for name, has_btree in leaves:
        match = _PARTITION_RE.match(name)
        if match:
            day = datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC)
            covered[day] = covered.get(day, True) and has_btree
    newest_first = sorted(covered, reverse=True)
    uncovered = []
    for day in newest_first:
        if covered[day]:
            break
        uncovered.append((f"logs_event_p{day:%Y%m%d}", day))
    return uncovered[::-1]


def summarize_trace_blooms(now: datetime | None = None) -> int:
    """Summarise the new page ranges of the bloom indexes of partitions not yet sealed; returns how
    many ranges were summarised. A partition busy with another summary, a vacuum or an index build
    (they share one lock level) is skipped after a second rather than waited for."""
    now = now or datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.relid::regclass::text, c.relname FROM pg_partition_tree(%s::regclass) t"
            " JOIN pg_index i ON i.indexrelid = t.relid JOIN pg_class c ON c.oid = i.indrelid"
            " WHERE t.isleaf",
            [TRACE_BLOOM],
        )
        leaves = cursor.fetchall()
    summarized = 0
    for index, table in leaves:
        match = _PARTITION_RE.match(table)
        if not match or _is_sealed(datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC), now):
            continue
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
                cursor.execute("SELECT brin_summarize_new_values(%s::regclass)", [index])
                summarized += cursor.fetchone()[0]
        except OperationalError:
            continue
    return summarized
