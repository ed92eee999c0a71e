"""Timing the log read paths and writing bench/QUERY_LOGS_RESULTS.md (see bench/query_logs.py)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction

from apps.api.timerange import TimeRange
from apps.logs import indexes
from apps.logs.query import parse
from apps.logs.selectors import log_patterns, search_logs
from apps.logs.stats import log_stats

WARMUP = 3


@dataclass
class Result:
    name: str
    target_ms: float | None
    samples: list[float] = field(default_factory=list)
    note: str = ""
    statements: list[tuple[float, str, list[Any]]] = field(default_factory=list)
    plan: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def last(hours: float) -> TimeRange:
    now = datetime.now(UTC)
    return TimeRange(now - timedelta(hours=hours), now)


def timed(name: str, target: float | None, runs: int, call: Callable[[], Any], note: str = "") -> Result:
    result = Result(name, target, note=note)
    for number in range(WARMUP + runs):
        captured: list[tuple[float, str, list[Any]]] = []
        with connection.execute_wrapper(_capturing(captured)):
            started = time.perf_counter()
            outcome = call()
            elapsed = (time.perf_counter() - started) * 1000
        if number >= WARMUP:
            result.samples.append(elapsed)
        result.statements = captured
        result.note = note or _describe(outcome)
    return result


def _capturing(captured: list[tuple[float, str, list[Any]]]) -> Callable[..., Any]:
    """An execute wrapper recording each statement, so the slowest can be EXPLAINed afterwards."""

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            captured.append((time.perf_counter() - started, sql, list(params or [])))

    return capture


def _describe(outcome: Any) -> str:
    if hasattr(outcome, "records"):
        return f"{len(outcome.records)} rows returned"
    if isinstance(outcome, dict) and "total" in outcome:
        return f"{outcome['total']:,} logs counted, source={outcome['source']}"
    if hasattr(outcome, "patterns"):
        return f"{len(outcome.patterns)} patterns from {outcome.scanned:,} rows"
    return ""


def run_all(big: int, runs: int, rare_word: str) -> list[Result]:
    rare, common = parse(rare_word), parse("declined")
    errors = parse("level>=error")
    return [
        timed("(a) newest 100 logs, last 1 h", 50, runs, lambda: search_logs(big, None, last(1), 100)),
        timed(
            f"(b) word search `{rare_word}` (rare: ~1 in 200k), last 24 h",
            300,
            runs,
            lambda: search_logs(big, rare, last(24), 100),
        ),
        timed(
            "(b') word search `declined` (~2 %), last 24 h",
            300,
            runs,
            lambda: search_logs(big, common, last(24), 100),
        ),
        worst_case_search(big, rare, rare_word, runs),
        timed("(c) level counts per 5 min, last 24 h", 50, runs, lambda: log_stats(big, None, last(24))),
        timed(
            "(c') stats `level>=error` per 5 min, last 24 h",
            None,
            runs,
            lambda: log_stats(big, errors, last(24)),
        ),
        timed(
            "stats `declined` (text: scans), last 1 h",
            None,
            max(5, runs // 3),
            lambda: log_stats(big, common, last(1)),
        ),
        timed(
            "patterns, last 1 h (20,000-row sample)",
            None,
            max(5, runs // 3),
            lambda: log_patterns(big, None, last(1), 20_000, 50),
        ),
        timed("search page 2 via cursor, last 1 h", None, runs, lambda: _second_page(big)),
    ]


def newest_data(project_id: int, minutes: int) -> TimeRange:
    """The last `minutes` of loaded data (the load ended before the measurements began)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(ts) FROM logs_event WHERE project_id = %s", [project_id])
        end = cursor.fetchone()[0] + timedelta(microseconds=1)
    return TimeRange(end - timedelta(minutes=minutes), end)


def worst_case_search(big: int, rare: Any, rare_word: str, runs: int) -> Result:
    """A search at the worst moment: the last hour has ended but its slice index is not built yet,
    so 70 minutes of the open partition have no trigram index. Emulated by dropping that hour's
    slice index inside a transaction that is rolled back afterwards."""
    newest = newest_data(big, minutes=1).end.astimezone(UTC)
    hour = newest.replace(minute=0, second=0, microsecond=0) - indexes.SLICE
    window = TimeRange(hour, hour + indexes.SLICE + indexes.SLICE_SEAL_DELAY)
    name = indexes.slice_index_name(f"logs_event_p{hour:%Y%m%d}", hour)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        result = timed(
            f"(b) worst case: `{rare_word}` over 70 min that have no trigram index yet",
            300,
            runs,
            lambda: search_logs(big, rare, window, 100),
        )
        result.plan = explain(result)
        transaction.set_rollback(True)
    return result


def _second_page(big: int) -> Any:
    window = last(1)
    first = search_logs(big, None, window, 100)
    return search_logs(big, None, window, 100, first.next_cursor)


_INDEX_LABELS = {  # index name suffixes (per leaf partition) -> what they are
    "project_id_ts_idx": "index (project_id, ts DESC) B-tree",
    "ts_idx": "index ts BRIN",
    "trace_id_idx": "index trace_id bloom BRIN (every day)",
    "trace": "index (project_id, trace_id) B-tree (sealed days)",
    "message_trgm": "index message trigram GIN (sealed days, finished hours)",
}


def sizes() -> list[tuple[str, float, float]]:
    """(relation, total MB, MB per million rows) for logs_event's table and index parts, summed over
    its leaf partitions (days, split by level class); hourly slice indexes count as message_trgm."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM logs_event")
        millions = cursor.fetchone()[0] / 1e6
        cursor.execute(
            """
            SELECT coalesce(sum(pg_relation_size(c.oid)), 0),
                   coalesce(sum(pg_total_relation_size(c.oid) - pg_relation_size(c.oid)
                                - pg_indexes_size(c.oid)), 0)
            FROM pg_partition_tree('logs_event') t JOIN pg_class c ON c.oid = t.relid
            WHERE t.isleaf
            """
        )
        heap, toast = cursor.fetchone()
        cursor.execute(
            """
            SELECT regexp_replace(regexp_replace(ic.relname,
                       '^logs_event_p[0-9]{8}_((unspecified|debug|info|warn)_)?', ''), '_h[0-9]{2}$', ''),
                   sum(pg_relation_size(ic.oid))
            FROM pg_partition_tree('logs_event') t JOIN pg_index x ON x.indrelid = t.relid
            JOIN pg_class ic ON ic.oid = x.indexrelid
            WHERE t.isleaf GROUP BY 1 ORDER BY 1
            """
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i"
            " WHERE i.inhparent = 'logs_count_1m'::regclass"
        )
        count_bytes = cursor.fetchone()[0]
    labelled = [(_INDEX_LABELS.get(name, f"index {name}"), size) for name, size in indexes]
    rows = [("heap", heap), ("toast", toast), *labelled]
    rows.append(("logs_count_1m (table + pk)", count_bytes))
    return [(name, float(size) / 2**20, float(size) / 2**20 / millions) for name, size in rows]


def explain(result: Result) -> str:
    _, sql, params = max(result.statements, key=lambda s: s[0])  # the slowest statement of the call

    def run() -> str:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())

    return result.plan or run()


def render(
    results: list[Result], total: int, days: int, load_s: float, maintenance: dict[str, float], now: datetime
) -> str:
    lines = [
        "# Log query benchmark (`make bench-query-logs`)",
        "",
        f"{total:,} log rows over the {days} days before {now:%Y-%m-%d %H:%M} UTC, 100 projects,"
        " one holding half;"
        " 2 shared cores, PostgreSQL 15 with default settings (shared_buffers 128 MB). Times are measured"
        " around the selector calls the API makes (SQL + Python), after 3 warm-up runs.",
        f"Today's (open) partition held {now.hour + now.minute / 60:.1f} h of data; its finished hours"
        " have trigram slice indexes, the current one does not.",
        "",
        f"Load: {load_s:.0f} s by COPY ({total / load_s:,.0f} rows/s, indexes in place)."
        if load_s == load_s  # NaN when BENCH_SKIP_LOAD re-measured an existing load
        else "Load: not repeated (BENCH_SKIP_LOAD).",
        "",
        "| maintenance (run synchronously, as beat would) | seconds (COPY: rows/s) |",
        "| --- | ---: |",
        *[f"| {name} | {value:,.1f} |" for name, value in maintenance.items()],
        "",
        "| query | runs | p50 ms | p95 ms | target p95 | result |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        target = f"< {r.target_ms:.0f} ms" if r.target_ms else "-"
        verdict = "" if r.target_ms is None else ("met" if r.p95 < r.target_ms else "**missed**")
        lines.append(
            f"| {r.name} | {len(r.samples)} | {r.p50:.1f} | {r.p95:.1f} | {target} | {verdict} {r.note} |"
        )
    lines += ["", "| relation (all partitions) | MB | MB per million rows |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {mb:,.1f} | {per:,.1f} |" for name, mb, per in sizes()]
    # The slowest against its target, then the slowest in absolute terms if that is another one.
    targeted = [r for r in results if r.target_ms]
    shown = [max(targeted, key=lambda r: r.p95 / (r.target_ms or 1)), max(targeted, key=lambda r: r.p95)]
    for result in {r.name: r for r in shown}.values():
        lines += ["", f"## EXPLAIN (ANALYZE, BUFFERS): {result.name}", "", "```", explain(result), "```", ""]
    return "\n".join(lines)
