"""How long telemetry is kept: per plan, and for logs per level class (DESIGN.md §4).

Two mechanisms, one policy. Storage drops whole daily partitions once even the longest
retention any plan grants has passed (`longest()`), so no row is ever deleted one by one.
Reads apply each project's own retention as a time bound (`log_cutoffs`, `cutoff`), so nothing
past retention is served even before, or between, runs of the daily task.

Until plans land, every project has the defaults from the environment (RETENTION_* settings).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction

from apps.ingestion.partitions import DEBUG_LEVELS, PARTITION_LOCK_KEY, WARN_LEVELS

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

# Each range-partitioned table and the retention that bounds it. A day of logs goes when the
# longest log class (warn+) expires; its debug and info leaves (apps.ingestion.partitions) go
# earlier, and log_cutoffs hides each project's rows past its own plan's retention in between.
PARTITIONED_TABLES = {
    "logs_event": "warn",
    "logs_count_1m": "warn",
    "logs_count_level_1m": "warn",
    "logs_count_service_1h": "warn",
    "traces_span": "span",
    "metrics_point": "point",
    "metrics_rollup_1m": "rollup_1m",
    "metrics_rollup_1h": "rollup_1h",
}
# Leaf of a day of logs (apps.ingestion.partitions) -> the level class whose retention bounds it.
LOG_LEAVES_BY_RETENTION = {"debug": "debug", "info": "info", "unspecified": "info"}
_UPPER_BOUND = re.compile(r"TO \('([^']+)'\)")
PARTITIONS_SQL = """
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = %s AND p.relnamespace = 'public'::regnamespace
"""


def expired_partitions(table: str, cutoff: datetime) -> list[str]:
    """Children of `table` whose whole range ends at or before `cutoff` (read from the catalog,
    so partitions made by any app or by hand are found)."""
    with connection.cursor() as cursor:
        cursor.execute(PARTITIONS_SQL, [table])
        children = cursor.fetchall()
    expired = []
    for name, bound in children:
        match = _UPPER_BOUND.search(bound or "")
        if match and datetime.fromisoformat(match.group(1)).astimezone(UTC) <= cutoff:
            expired.append(name)
    return sorted(expired)


def drop_expired_partitions(now: datetime) -> list[str]:
    """Drop every partition past the longest retention of any plan; returns what was dropped.

    Idempotent, and serialised with partition creation by the shared advisory lock. A partition
    that a long query is still reading is skipped (lock_timeout) and dropped on the next run.
    """
    longest_retention = longest()
    dropped: list[str] = []
    for table, kind in PARTITIONED_TABLES.items():
        cutoff = now - timedelta(days=getattr(longest_retention, f"{kind}_days"))
        dropped += [name for name in expired_partitions(table, cutoff) if _drop(name)]
    # Days of logs are split by level class: debug and info leaves go before the day itself.
    for leaf, kind in LOG_LEAVES_BY_RETENTION.items():
        cutoff = now - timedelta(days=getattr(longest_retention, f"{kind}_days"))
        for day in expired_partitions("logs_event", cutoff):
            if _exists(f"{day}_{leaf}") and _drop(f"{day}_{leaf}"):
                dropped.append(f"{day}_{leaf}")
    if dropped:
        logger.info("retention: dropped %d partitions", len(dropped), extra={"partitions": dropped})
    return dropped


def _exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [name])
        return cursor.fetchone()[0] is not None


def _drop(name: str) -> bool:
    """DROP one partition (a name from pg_class); False when it is busy and must wait a run."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK_KEY])
            cursor.execute("SET LOCAL lock_timeout = '5s'")
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
    except OperationalError:
        logger.warning("retention: %s is busy, it will be dropped on the next run", name)
        return False
    return True
