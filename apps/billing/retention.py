"""How long telemetry is kept: per plan, and for logs per level class (DESIGN.md §4).

Two mechanisms, one policy. Storage drops whole daily partitions once even the longest
retention any plan grants has passed (`longest()`), so no row is ever deleted one by one.
Reads apply each project's own retention as a time bound (`log_cutoffs`, `cutoff`), so nothing
past retention is served even before, or between, runs of the daily task.

Each project keeps what its organization's plan grants (apps.billing.state, cached per process);
a plan field left empty means the deployment default from the environment (RETENTION_* settings).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from apps.billing import state
from apps.billing.state import RETENTION_FIELDS
from apps.logs import storage as log_storage
from apps.logs.storage import DEBUG_LEVELS, WARN_LEVELS
from apps.metrics import storage as metric_storage
from apps.traces import storage as span_storage

logger = logging.getLogger(__name__)

# OTLP severity numbers: 1-4 trace, 5-8 debug, 9-12 info, 13-16 warn, 17-20 error, 21-24 fatal;
# the same classes the day partitions of logs are split by.
DEBUG_MAX_LEVEL = max(DEBUG_LEVELS)
WARN_MIN_LEVEL = min(WARN_LEVELS)


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


def of_days(days: tuple[int | None, ...]) -> Retention:
    """A plan's retention (state.RETENTION_FIELDS order); None fields take the default."""
    base = default()
    return Retention(
        *(
            value if value is not None else getattr(base, f"{name}_days")
            for name, value in zip(RETENTION_FIELDS, days, strict=True)
        )
    )


def for_project(project_id: int) -> Retention:
    """The retention of the project's plan. Cached: ingestion calls this on every request."""
    return of_days(state.for_project(project_id).retention_days)


def longest() -> Retention:
    """The longest retention of any plan in use (or the default): what storage must keep for somebody."""
    from apps.billing.models import Plan

    retentions = [default()] + [
        of_days(tuple(row))
        for row in Plan.objects.filter(subscriptions__isnull=False)
        .distinct()
        .values_list(*(f"retention_{name}_days" for name in RETENTION_FIELDS))
    ]
    return Retention(*(max(getattr(r, f"{name}_days") for r in retentions) for name in RETENTION_FIELDS))


@dataclass(frozen=True)
class LogCutoffs:
    """Oldest timestamp still served, per level class."""

    debug: datetime
    info: datetime
    warn: datetime

    @property
    def oldest(self) -> datetime:
        return min(self.debug, self.info, self.warn)

    @property
    def newest(self) -> datetime:
        return max(self.debug, self.info, self.warn)

    def of(self, level: int) -> datetime:
        if 1 <= level <= DEBUG_MAX_LEVEL:
            return self.debug
        return self.warn if level >= WARN_MIN_LEVEL else self.info

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


# --- Enforcement: dropping whole partitions ------------------------------------------------


def drop_expired_partitions(now: datetime) -> list[str]:
    """Drop every partition past the longest retention of any plan; returns what was dropped.

    Each owner drops its own tables (a day of logs by level class first: its debug and info
    leaves go before the day itself); log_cutoffs hides each project's rows past its own plan's
    retention in between. Idempotent, and serialised with partition creation by the shared
    advisory lock (apps.storage.partitions).
    """
    longest_retention = longest()

    def before(days: int) -> datetime:
        return now - timedelta(days=days)

    dropped = log_storage.drop_expired(
        debug=before(longest_retention.debug_days),
        info=before(longest_retention.info_days),
        warn=before(longest_retention.warn_days),
    )
    dropped += span_storage.drop_expired(before(longest_retention.span_days))
    dropped += metric_storage.drop_expired(
        points=before(longest_retention.point_days),
        rollup_1m=before(longest_retention.rollup_1m_days),
        rollup_1h=before(longest_retention.rollup_1h_days),
    )
    if dropped:
        logger.info("retention: dropped %d partitions", len(dropped), extra={"partitions": dropped})
    return dropped
