"""Read selectors of the organization home and the project overview: figures at a glance.

Cost model. Nothing here counts raw rows over long ranges: logs come from the per-minute counts
of apps.logs.counts (its level rollup), spans and metric points from those of
apps.dashboards.counts (dashboards_event_count_1m), each up to its watermark; only the
uncounted tail (normally the last minute or two) and the partial minutes at a range's edges are
read from the raw rows, through the relations their owners publish (apps.logs.selectors.LOG_ROWS,
apps.traces.selectors.SPAN_ROWS, apps.metrics.selectors.POINT_ROWS). Every figure of the org
home is one query for all projects (`project_id = ANY(...)`), never one per project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection

from apps.api.timerange import TimeRange
from apps.billing import retention
from apps.dashboards import counts as event_counts
from apps.logs import counts as log_counts
from apps.logs.selectors import LOG_LEVEL_MINUTES, LOG_ROWS
from apps.logs.stats import ORIGIN, bucket_starts, log_stats
from apps.metrics.selectors import POINT_ROWS, SERIES_ROWS, series_names_present
from apps.storage.counting import floor_minute
from apps.traces.selectors import SPAN_ROWS

GLANCE = timedelta(minutes=15)  # the org home's "now": rates and ratios over this window
SPARK_MINUTES = 60  # the org home's sparkline: logs per minute over the last hour
ERROR_LEVEL = 17  # OTLP severity: error 17-20, fatal 21-24
SPAN_STATUS_ERROR = 2
LATENCY_METRICS = (  # OTel semantic conventions, newest first: (name, unit to milliseconds factor)
    ("http.server.request.duration", 1000.0),  # histogram in seconds (semconv 1.23+)
    ("http.server.duration", 1.0),  # histogram in milliseconds (older semconv)
)


@dataclass
class ProjectGlance:
    """A project card of the org home."""

    logs: int = 0
    log_errors: int = 0
    spans: int = 0
    points: int = 0
    has_data: bool = False
    spark: list[int] = field(default_factory=lambda: [0] * SPARK_MINUTES)

    @property
    def events_per_second(self) -> float:
        return (self.logs + self.spans + self.points) / GLANCE.total_seconds()

    @property
    def error_percent(self) -> float | None:
        return 100 * self.log_errors / self.logs if self.logs else None

    @property
    def is_quiet(self) -> bool:
        return not (self.logs or self.spans or self.points)

    @property
    def spark_points(self) -> str:
        """SVG polyline points of the sparkline in a 120 x 28 box (numbers only: safe to render)."""
        top = max(self.spark) or 1
        step = 120 / (len(self.spark) - 1)
        return " ".join(f"{i * step:.1f},{27 - 25 * n / top:.1f}" for i, n in enumerate(self.spark))


# --- Organization home ------------------------------------------------------------------------

# Counted minutes from the level rollup, the tail after the watermark from the raw log rows.
GLANCE_LOGS = f"""
SELECT project_id, minute, sum(n)::bigint, (sum(n) FILTER (WHERE level >= %(error)s))::bigint FROM (
    SELECT project_id, minute, level, count AS n FROM {LOG_LEVEL_MINUTES} c
    WHERE project_id = ANY(%(ids)s) AND minute >= %(start)s AND minute < %(counted)s
    UNION ALL
    SELECT project_id, date_trunc('minute', ts), level, 1 FROM {LOG_ROWS} l
    WHERE project_id = ANY(%(ids)s) AND ts >= %(counted)s AND ts < %(end)s
) AS minutes GROUP BY 1, 2
"""  # noqa: S608 (constants)
# Spans and points: counted minutes, then the tail after the event-count watermark from raw rows.
GLANCE_EVENTS = f"""
SELECT project_id, sum(spans)::bigint, sum(points)::bigint FROM (
    SELECT project_id, spans, points FROM dashboards_event_count_1m
    WHERE project_id = ANY(%(ids)s) AND minute >= %(since)s AND minute < %(events_counted)s
    UNION ALL
    SELECT project_id, count(*), 0 FROM {SPAN_ROWS} s
    WHERE project_id = ANY(%(ids)s) AND start_ts >= %(events_counted)s AND start_ts < %(end)s GROUP BY 1
    UNION ALL
    SELECT project_id, 0, count(*) FROM {POINT_ROWS} p
    WHERE project_id = ANY(%(ids)s) AND ts >= %(events_counted)s AND ts < %(end)s GROUP BY 1
) AS parts GROUP BY 1
"""  # noqa: S608 (constants)
# One index probe per project and table: has it ever received anything?
HAS_DATA = f"""
SELECT p.id FROM unnest(%(ids)s::bigint[]) AS p(id)
WHERE EXISTS (SELECT 1 FROM {LOG_ROWS} l WHERE l.project_id = p.id)
   OR EXISTS (SELECT 1 FROM {SPAN_ROWS} s WHERE s.project_id = p.id)
   OR EXISTS (SELECT 1 FROM {SERIES_ROWS} m WHERE m.project_id = p.id)
"""  # noqa: S608 (constants)


def organization_glance(project_ids: list[int], now: datetime | None = None) -> dict[int, ProjectGlance]:
    """Figures of the org home for every project: three queries in all, whatever the count."""
    glance = {project_id: ProjectGlance() for project_id in project_ids}
    if not project_ids:
        return glance
    end = floor_minute(now or datetime.now(UTC))  # whole minutes: a filling one would dip the sparkline
    start, since = end - timedelta(minutes=SPARK_MINUTES), end - GLANCE
    params: dict[str, Any] = {
        "ids": project_ids,
        "start": start,
        "since": since,
        "end": end,
        "error": ERROR_LEVEL,
    }
    params["counted"] = min(max(log_counts.counted_until() or start, start), end)
    params["events_counted"] = min(max(event_counts.counted_until() or since, since), end)
    with connection.cursor() as cursor:
        cursor.execute(GLANCE_LOGS, params)
        for project_id, minute, count, errors in cursor.fetchall():
            figures = glance[project_id]
            figures.spark[int((minute - start).total_seconds() // 60)] += count
            if minute >= since:
                figures.logs += count
                figures.log_errors += errors or 0
        cursor.execute(GLANCE_EVENTS, params)
        for project_id, spans, points in cursor.fetchall():
            glance[project_id].spans, glance[project_id].points = spans, points
        cursor.execute(HAS_DATA, params)
        for (project_id,) in cursor.fetchall():
            glance[project_id].has_data = True
    return glance


# --- Project overview -------------------------------------------------------------------------

# Counted minutes of spans and points per chart bucket; each kind within its retention. (A sum of
# bigint is numeric, which psycopg returns as Decimal: cast back.)
COUNTED_PER_BUCKET = """
SELECT extract(epoch FROM date_bin(%(bucket)s, minute, %(origin)s))::bigint,
       (sum(spans) FILTER (WHERE minute >= %(span_cutoff)s))::bigint,
       (sum(span_errors) FILTER (WHERE minute >= %(span_cutoff)s))::bigint,
       (sum(points) FILTER (WHERE minute >= %(point_cutoff)s))::bigint
FROM dashboards_event_count_1m
WHERE project_id = %(project_id)s AND minute >= %(start)s AND minute < %(end)s
GROUP BY 1
"""
# The partial minutes at the edges and the tail after the watermark, from the raw tables.
RAW_PER_BUCKET = f"""
SELECT extract(epoch FROM date_bin(%(bucket)s, start_ts, %(origin)s))::bigint, count(*),
       count(*) FILTER (WHERE status_code = %(error)s), 0
FROM {SPAN_ROWS} s
WHERE project_id = %(project_id)s AND start_ts >= greatest(%(start)s, %(span_cutoff)s) AND start_ts < %(end)s
GROUP BY 1
UNION ALL
SELECT extract(epoch FROM date_bin(%(bucket)s, ts, %(origin)s))::bigint, 0, 0, count(*)
FROM {POINT_ROWS} p
WHERE project_id = %(project_id)s AND ts >= greatest(%(start)s, %(point_cutoff)s) AND ts < %(end)s
GROUP BY 1
"""  # noqa: S608 (constants)
BUCKET_FIELDS = ("logs", "log_errors", "spans", "span_errors", "points")


def project_activity(project_id: int, window: TimeRange) -> dict[str, Any]:
    """The overview's charts: logs, log errors, spans, span errors and metric points per bucket
    (the buckets of the log stats API, so the page can merge live counts into them)."""
    stats = log_stats(project_id, None, window, top=8)
    bucket = timedelta(seconds=stats["bucket_seconds"])
    starts = [int(start.timestamp()) for start in bucket_starts(window, bucket)]
    rows: dict[int, dict[str, int]] = {t: {"t": t, **dict.fromkeys(BUCKET_FIELDS, 0)} for t in starts}
    for item in stats["buckets"]:
        row = rows[int(datetime.fromisoformat(item["start"]).timestamp())]
        row["logs"] = item["total"]
        row["log_errors"] = item["counts"]["error"] + item["counts"]["fatal"]
    now = datetime.now(UTC)
    params: dict[str, Any] = {
        "project_id": project_id,
        "bucket": bucket,
        "origin": ORIGIN,
        "error": SPAN_STATUS_ERROR,
        "span_cutoff": retention.cutoff(project_id, now, "span"),
        "point_cutoff": retention.cutoff(project_id, now, "point"),
    }
    counted = _counted_part(window, event_counts.counted_until())
    parts = [(COUNTED_PER_BUCKET, counted)] if counted else []
    parts += [(RAW_PER_BUCKET, part) for part in _edges(window, counted)]
    with connection.cursor() as cursor:
        for sql, part in parts:
            cursor.execute(sql, {**params, "start": part.start, "end": part.end})
            for t, spans, span_errors, points in cursor.fetchall():
                if t in rows:
                    rows[t]["spans"] += spans or 0
                    rows[t]["span_errors"] += span_errors or 0
                    rows[t]["points"] += points or 0
    buckets = list(rows.values())
    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "bucket_seconds": stats["bucket_seconds"],
        "buckets": buckets,
        "totals": {name: sum(row[name] for row in buckets) for name in BUCKET_FIELDS},
        "levels": stats["levels"],
        "top_services": stats["top_services"],
    }


def _counted_part(window: TimeRange, watermark: datetime | None) -> TimeRange | None:
    """The whole minutes of the window that the event counts hold."""
    if watermark is None:
        return None
    start = floor_minute(window.start)
    if start < window.start:
        start += timedelta(minutes=1)
    end = min(floor_minute(window.end), watermark)
    return TimeRange(start, end) if end > start else None


def _edges(window: TimeRange, counted: TimeRange | None) -> list[TimeRange]:
    """What the counts do not hold: the partial minute at the start and everything after them."""
    if counted is None:
        return [window]
    parts = [TimeRange(window.start, counted.start), TimeRange(counted.end, window.end)]
    return [part for part in parts if part.end > part.start]


def has_telemetry(project_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(HAS_DATA, {"ids": [project_id]})
        return cursor.fetchone() is not None


def latency_metric(project_id: int) -> tuple[str, float] | None:
    """The HTTP server latency histogram the project reports, by OTel semantic conventions:
    (name, factor to milliseconds), or None."""
    present = series_names_present(project_id, [name for name, _ in LATENCY_METRICS])
    return next(((name, factor) for name, factor in LATENCY_METRICS if name in present), None)
