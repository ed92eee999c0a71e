"""How long telemetry is kept: per plan, and for logs per level class (DESIGN.md §4).

Two mechanisms, one policy. Storage drops whole daily partitions once even the longest
retention any plan grants has passed (`longest()`), so no row is ever deleted one by one.
Reads apply each project's own retention as a time bound (`log_cutoffs`, `cutoff`), so nothing
past retention is served even before, or between, runs of the daily task.

Until plans land, every project has the defaults from the environment (RETENTION_* settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

# OTLP severity numbers: 1-4 trace, 5-8 debug, 9-12 info, 13-16 warn, 17-20 error, 21-24 fatal.
DEBUG_MAX_LEVEL = 8
WARN_MIN_LEVEL = 13


@dataclass(frozen=True)
class Retention:
    debug_days: int
    info_days: int  # info and unspecified severity
    warn_days: int  # warn, error, fatal
    span_days: int
    point_days: int
    rollup_1m_days: int
    rollup_1h_days: int


def default() -> Retention:
    return Retention(
        debug_days=settings.RETENTION_DEBUG_DAYS,
        info_days=settings.RETENTION_INFO_DAYS,
        warn_days=settings.RETENTION_WARN_DAYS,
        span_days=settings.RETENTION_SPAN_DAYS,
        point_days=settings.RETENTION_POINT_DAYS,
        rollup_1m_days=settings.RETENTION_ROLLUP_1M_DAYS,
        rollup_1h_days=settings.RETENTION_ROLLUP_1H_DAYS,
    )


def for_project(project_id: int) -> Retention:
    """The retention of the project's plan (the default until billing plans exist)."""
    return default()


def longest() -> Retention:
    """The longest retention of any plan: what storage must keep for somebody."""
    return default()


@dataclass(frozen=True)
class LogCutoffs:
    """Oldest timestamp still served, per level class."""

    debug: datetime
    info: datetime
    warn: datetime

    @property
    def oldest(self) -> datetime:
        return min(self.debug, self.info, self.warn)

    def sql(self, ts: str = "ts", level: str = "level") -> tuple[str, list[datetime]]:
        """A WHERE fragment: the plain bound on `ts` lets PostgreSQL prune partitions, the CASE
        applies the per-level limit row by row inside what is left."""
        fragment = (
            f"{ts} >= %s AND {ts} >= CASE WHEN {level} BETWEEN 1 AND {DEBUG_MAX_LEVEL} THEN %s"
            f" WHEN {level} >= {WARN_MIN_LEVEL} THEN %s ELSE %s END"
        )
        return fragment, [self.oldest, self.debug, self.warn, self.info]


def log_cutoffs(project_id: int, now: datetime) -> LogCutoffs:
    retention = for_project(project_id)
    return LogCutoffs(
        debug=now - timedelta(days=retention.debug_days),
        info=now - timedelta(days=retention.info_days),
        warn=now - timedelta(days=retention.warn_days),
    )


def cutoff(project_id: int, now: datetime, kind: str) -> datetime:
    """Oldest timestamp served for `kind`: span, point, rollup_1m or rollup_1h."""
    return now - timedelta(days=getattr(for_project(project_id), f"{kind}_days"))
