"""Range partitions of the telemetry tables: the mechanics every owner shares.

Each telemetry table belongs to one app (apps.logs.storage, apps.traces.storage,
apps.metrics.storage): the owner names its table, its bounds and its leaves; this module only
runs the DDL, and names no table itself.

Partitions are created ahead of time by the `create_partitions_ahead` beat task and on demand by
ingestion when a batch carries a day that has none, so an insert never fails for want of a
partition. `CREATE TABLE IF NOT EXISTS ... PARTITION OF` is not race-safe on its own (two sessions
can both pass the existence check and one dies on a duplicate catalog row), hence the advisory lock.
Creation runs in its own short transaction: it takes a lock on the parent table that must not be
held for the duration of a data write. Retention's DROPs take the same lock.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.backends.utils import CursorWrapper

logger = logging.getLogger(__name__)

PARTITION_LOCK_KEY = 0x5647_5041  # "VGPA": one advisory lock id for all partition DDL

_known: set[str] = set()  # partition names this process has seen exist
_known_lock = threading.Lock()


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def days_between(first: datetime, last: datetime) -> list[date]:
    day, end = first.astimezone(UTC).date(), last.astimezone(UTC).date()
    days = []
    while day <= end:
        days.append(day)
        day += timedelta(days=1)
    return days


def create_partitions(
    table: str,
    ranges: Iterable[tuple[str, datetime, datetime]],
    options: str = "",
    leaves: tuple[str, Mapping[str, str]] | None = None,
) -> None:
    """Create the missing range partitions `(name, start, end)` of `table`; with `leaves`
    (`partition by`, {suffix: bound}) each is partitioned again into `<name>_<suffix>`.

    The one place that runs partition DDL (raw telemetry, log counts and metric rollups all call
    it), so one advisory lock serialises it with itself and with retention's DROPs. Known names are
    remembered per process, only after commit, so the hot path usually costs a set lookup.
    """
    missing = sorted({item for item in ranges if item[0] not in _known})
    if not missing:
        return
    partition_by, bounds = leaves or ("", {})
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK_KEY])
        for name, start, end in missing:
            # Look first: even IF NOT EXISTS can lock the parent that readers are using.
            cursor.execute("SELECT to_regclass(%s)", [name])
            if cursor.fetchone()[0] is None:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                    f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                    + (f" PARTITION BY {partition_by}" if partition_by else options)
                )
                for leaf, bound in bounds.items():
                    cursor.execute(f"CREATE TABLE IF NOT EXISTS {name}_{leaf} PARTITION OF {name} {bound}")
                _hand_to_runtime_role(cursor, [name, *(f"{name}_{leaf}" for leaf in bounds)])
    # Remember only after commit: a rolled-back creation must be retried next time.
    with _known_lock:
        _known.update(name for name, _, _ in missing)


def _hand_to_runtime_role(cursor: CursorWrapper, names: list[str]) -> None:
    """Partitions made by another role (a `manage.py` command run as the owner role, e.g. the demo
    or bootstrap from a shell) go to the runtime role at once: the app maintains them as their
    owner (bloom summaries, per-partition indexes, retention DROPs; see apps/audit/roles.py)."""
    role = settings.DATABASE_RUNTIME_ROLE
    if not role:
        return
    cursor.execute("SELECT current_user")
    if cursor.fetchone()[0] == role:
        return
    for name in names:
        cursor.execute(f"ALTER TABLE {name} OWNER TO {connection.ops.quote_name(role)}")


def ensure_day_partitions(
    table: str, days: Iterable[date], leaves: tuple[str, Mapping[str, str]] | None = None
) -> None:
    """Make sure `table` has a daily partition for each day; cheap when they are known to exist."""
    create_partitions(table, [(partition_name(table, day), *day_bounds(day)) for day in days], leaves=leaves)


def forget_partitions() -> None:
    """Drop the process-local memory of partitions (after retention dropped some, or in tests)."""
    with _known_lock:
        _known.clear()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def days_around(days_ahead: int = 3, days_behind: int = 1) -> list[date]:
    """From `days_behind` ago to `days_ahead` from today: what the beat task creates ahead."""
    today = datetime.now(UTC).date()
    return [today + timedelta(days=offset) for offset in range(-days_behind, days_ahead + 1)]


# --- Retention: dropping whole partitions -----------------------------------------------------

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


def drop_expired(table: str, cutoff: datetime) -> list[str]:
    """Drop the partitions of `table` past `cutoff`; returns the names dropped."""
    return [name for name in expired_partitions(table, cutoff) if drop_partition(name)]


def partition_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [name])
        return cursor.fetchone()[0] is not None


def drop_partition(name: str) -> bool:
    """DROP one partition (a name from pg_class); False when it is busy and must wait a run.

    Serialised with partition creation by the shared advisory lock. A partition that a long query
    is still reading is skipped (lock_timeout) and dropped on the next run.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK_KEY])
            cursor.execute("SET LOCAL lock_timeout = '5s'")
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
    except OperationalError:
        logger.warning("retention: %s is busy, it will be dropped on the next run", name)
        return False
    return True
