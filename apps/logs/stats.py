"""Log stats: counts per level class per time bucket, top services and the error ratio.

Where it can, stats read the counts maintained by apps.logs.counts instead of logs_event: for an
empty query the narrow rollups (levels per minute, services per hour); for queries made only of
level and service filters logs_count_1m — those columns exist there under the same names, so the
compiled condition applies as is.
Only whole minutes below the count watermark come from the counts; the partial minutes at the
edges and the not-yet-counted tail (normally the last minute or two) are scanned, so the answer
matches a scan of logs_event. Any other query scans logs_event over the range.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from django.db import connection

from apps.api.timerange import TimeRange
from apps.billing import retention
from apps.logs.counts import floor_hour, floor_minute
from apps.logs.query import And, Equals, Level, Node, Not, Or
from apps.logs.selectors import LEVEL_NAMES
from apps.logs.sql import compile_condition, compile_for_project

BUCKET_SECONDS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
MAX_BUCKETS = 300
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # buckets align to UTC multiples of their size
ERROR_CLASSES = ("error", "fatal")

_GROUPED = """
SELECT extract(epoch FROM bucket)::bigint, class, service, GROUPING(bucket, class) AS by_service, sum(n)
FROM ({rows}) AS r
GROUP BY GROUPING SETS ((bucket, class), (service))
"""
# One pass yields both the histogram and the per-service totals. Buckets travel as epoch seconds:
# converting ~1,500 timestamptz values to aware datetimes costs more than the query itself.
SCAN_ROWS = """
SELECT date_bin(%s, ts, %s) AS bucket, (level + 3) / 4 AS class, service, 1 AS n
FROM logs_event WHERE project_id = %s AND ts >= %s AND ts < %s AND {condition}
"""
COUNT_ROWS = """
SELECT date_bin(%s, minute, %s) AS bucket, (level + 3) / 4 AS class, service, count AS n
FROM logs_count_1m WHERE project_id = %s AND minute >= %s AND minute < %s AND {condition}
"""


# Stats without a query: the histogram from the level rollup, top services from hourly rows for
# whole hours and from logs_count_1m for the partial hours at the edges.
LEVEL_HISTOGRAM = """
SELECT extract(epoch FROM date_bin(%s, minute, %s))::bigint, (level + 3) / 4, sum(count)
FROM logs_count_level_1m WHERE project_id = %s AND minute >= %s AND minute < %s
GROUP BY 1, 2
"""
SERVICES_1H = """
SELECT service, sum(count) FROM logs_count_service_1h
WHERE project_id = %s AND hour >= %s AND hour < %s GROUP BY 1
"""
SERVICES_1M = """
SELECT service, sum(count) FROM logs_count_1m
WHERE project_id = %s AND minute >= %s AND minute < %s GROUP BY 1
"""


class ServiceCount(TypedDict):
    service: str
    count: int


def bucket_for(span: timedelta) -> int:
    """The smallest bucket giving at most MAX_BUCKETS points: 24 h -> 5 min, 7 d -> 1 h."""
    for seconds in BUCKET_SECONDS:
        if span.total_seconds() / seconds <= MAX_BUCKETS:
            return seconds
    return BUCKET_SECONDS[-1]


def is_countable(node: Node | None) -> bool:
    """True when the query only filters on columns logs_count_1m has (level, service)."""
    if node is None or isinstance(node, Level):
        return True
    if isinstance(node, Equals):
        return node.column == "service"
    if isinstance(node, Not):
        return is_countable(node.operand)
    if isinstance(node, And | Or):
        return all(is_countable(operand) for operand in node.operands)
    return False


def log_stats(project_id: int, query: Node | None, window: TimeRange, top: int = 10) -> dict[str, Any]:
    bucket = timedelta(seconds=bucket_for(window.span))
    # The per-minute counts know level classes but not their retention: use them only where no
    # class has expired yet (so the plain condition applies), and scan with retention beyond that.
    count_condition, count_params = compile_condition(query)
    condition, params = compile_for_project(project_id, query)
    newest_cutoff = max(vars(retention.log_cutoffs(project_id, datetime.now(UTC))).values())
    countable = is_countable(query) and window.start >= newest_cutoff
    counted = _counted_range(window) if countable else None
    scans = [window] if counted is None else _edges(window, counted)
    histogram: dict[int, Counter[str]] = defaultdict(Counter)
    services: Counter[str] = Counter()
    if counted is not None and query is None:
        _tally_rollups(project_id, counted, bucket, histogram, services)
    elif counted is not None:
        sql = _GROUPED.format(rows=COUNT_ROWS.format(condition=count_condition))
        _tally(
            sql, [bucket, ORIGIN, project_id, counted.start, counted.end, *count_params], histogram, services
        )
    for part in scans:
        sql = _GROUPED.format(rows=SCAN_ROWS.format(condition=condition))
        _tally(sql, [bucket, ORIGIN, project_id, part.start, part.end, *params], histogram, services)
    source = "scan" if counted is None else ("counts+scan" if scans else "counts")
    return _report(window, bucket, histogram, services, top, source)


def _counted_range(window: TimeRange) -> TimeRange | None:
    """Whole minutes of the window that logs_count_1m already holds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT counted_until FROM logs_count_watermark WHERE id = 1")
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return None
    start = floor_minute(window.start)
    if start < window.start:
        start += timedelta(minutes=1)
    end = min(floor_minute(window.end), row[0])
    return TimeRange(start, end) if end > start else None


def _edges(window: TimeRange, counted: TimeRange) -> list[TimeRange]:
    parts = [TimeRange(window.start, counted.start), TimeRange(counted.end, window.end)]
    return [part for part in parts if part.end > part.start]


def _tally(sql: str, params: list[Any], histogram: dict[int, Counter[str]], services: Counter[str]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for bucket, level_class, service, by_service, count in cursor.fetchall():
            if by_service:
                services[service] += int(count)
            else:
                histogram[bucket][_class_name(level_class)] += int(count)


def _tally_rollups(
    project_id: int,
    counted: TimeRange,
    bucket: timedelta,
    histogram: dict[int, Counter[str]],
    services: Counter[str],
) -> None:
    first_hour = floor_hour(counted.start)
    if first_hour < counted.start:
        first_hour += timedelta(hours=1)
    last_hour = max(floor_hour(counted.end), first_hour)
    service_queries = [(SERVICES_1H, first_hour, last_hour)] if last_hour > first_hour else []
    service_queries += [(SERVICES_1M, counted.start, min(first_hour, counted.end))]
    service_queries += [(SERVICES_1M, max(last_hour, counted.start), counted.end)]
    with connection.cursor() as cursor:
        params: list[Any] = [bucket, ORIGIN, project_id, counted.start, counted.end]
        cursor.execute(LEVEL_HISTOGRAM, params)
        for epoch, level_class, count in cursor.fetchall():
            histogram[epoch][_class_name(level_class)] += int(count)
        for sql, start, end in service_queries:
            if end > start:
                cursor.execute(sql, [project_id, start, end])
                for service, count in cursor.fetchall():
                    services[service] += int(count)


def _class_name(level_class: int) -> str:
    return LEVEL_NAMES[level_class] if 0 <= level_class < len(LEVEL_NAMES) else "unspecified"


def _report(
    window: TimeRange,
    bucket: timedelta,
    histogram: dict[int, Counter[str]],
    services: Counter[str],
    top: int,
    source: str,
) -> dict[str, Any]:
    levels: Counter[str] = Counter({name: 0 for name in LEVEL_NAMES})
    buckets = []
    for start in bucket_starts(window, bucket):
        tally = histogram.get(int(start.timestamp()), Counter())
        counts = {name: tally[name] for name in LEVEL_NAMES}
        levels.update(counts)
        buckets.append({"start": start.isoformat(), "counts": counts, "total": sum(counts.values())})
    total = sum(levels.values())
    errors = sum(levels[name] for name in ERROR_CLASSES)
    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "bucket_seconds": int(bucket.total_seconds()),
        "buckets": buckets,
        "levels": dict(levels),
        "total": total,
        "error_ratio": round(errors / total, 6) if total else 0.0,
        "top_services": [
            ServiceCount(service=s, count=n) for s, n in sorted(services.items(), key=_by_count)[:top]
        ],
        "source": source,
    }


def bucket_starts(window: TimeRange, bucket: timedelta) -> list[datetime]:
    """Every bucket overlapping the window, zero ones included (charts want a dense axis)."""
    first = ORIGIN + ((window.start - ORIGIN) // bucket) * bucket
    starts = []
    while first < window.end:
        starts.append(first)
        first += bucket
    return starts


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]  # ties by name: the same answer on every call
