"""Readiness checks behind ``GET /health/ready``.

Design note: each check returns a small dict and never raises — a dependency that is down
is an answer ("ok": false), not an exception, so the endpoint cannot turn into a 500.
Every network call has a short timeout (Redis sockets 1 s, PostgreSQL ``connect_timeout``)
so a load balancer probe gets its answer before its own timeout fires.

Database, redis, migrations and the alert evaluator's lag decide readiness. The beat heartbeat,
the queue depth and the OTLP/gRPC receiver (its own process, apps/ingestion/grpc_server.py) are
reported for operators and alerting but do not make the web tier unready: they describe other
processes, not this one. If a dead beat or a long queue
pulled every web pod out of the load balancer, one broken scheduler would turn into a full
outage of the UI and of ingestion, which keep working without it.

The alert evaluator is the exception the alerts issue asks for: when the oldest due policy has
waited more than ALERT_LAG_LIMIT_SECONDS, Vigil is no longer watching, and /health/ready says so
with a 503 (a monitor of the monitor pages on it). Its lag is a database read: it is answered only
when the database check passed.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, TypedDict

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

logger = logging.getLogger(__name__)

BEAT_HEARTBEAT_KEY = "vigil:ops:beat-heartbeat"
# Beat enqueues the heartbeat every 15 s; four missed beats means the scheduler (or every worker) is gone.
BEAT_STALE_AFTER_SECONDS = 60.0
# Celery's default queue: a Redis list named after the queue in the broker database.
CELERY_DEFAULT_QUEUE = "celery"
REDIS_TIMEOUT_SECONDS = 1.0


class Check(TypedDict, total=False):
    ok: bool
    error: str
    latency_ms: float
    age_seconds: float | None
    depth: int | None
    enabled: bool
    lag_seconds: float


# Checks whose failure makes the web tier unready (503); the others are informational.
REQUIRED_CHECKS = ("database", "redis", "migrations", "alerts")
# Two missed minutes of evaluation: every policy (interval ≤ 60 s by default) has missed a slot.
ALERT_LAG_LIMIT_SECONDS = 120.0

# The migration graph only changes with a deploy, and loading it costs tens of milliseconds,
# so a positive answer is remembered for the life of the process. A negative one is not:
# the pod becomes ready as soon as `migrate` has run.
_migrations_applied = False


@functools.lru_cache(maxsize=8)
def redis_client(url: str) -> redis.Redis:
    """One pooled client per URL, with timeouts short enough for a health probe."""
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )


def _failure(exc: Exception) -> Check:
    # The class name only: /health/ready is public, and messages carry hosts, ports and users.
    return {"ok": False, "error": type(exc).__name__}


def _skipped() -> Check:
    # Without a database the migration graph cannot be read; don't pay a second connect timeout.
    return {"ok": False, "error": "database unavailable"}


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def check_database() -> Check:
    started = time.perf_counter()
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("readiness: database check failed: %s", type(exc).__name__)
        return _failure(exc)
    return {"ok": True, "latency_ms": _elapsed_ms(started)}


def check_redis() -> Check:
    started = time.perf_counter()
    try:
        redis_client(settings.REDIS_URL).ping()
    except Exception as exc:
        logger.warning("readiness: redis check failed: %s", type(exc).__name__)
        return _failure(exc)
    return {"ok": True, "latency_ms": _elapsed_ms(started)}


def has_unapplied_migrations() -> bool:
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def check_migrations() -> Check:
    global _migrations_applied
    if _migrations_applied:
        return {"ok": True}
    try:
        pending = has_unapplied_migrations()
    except Exception as exc:
        logger.warning("readiness: migrations check failed: %s", type(exc).__name__)
        return _failure(exc)
    if pending:
        return {"ok": False, "error": "unapplied migrations"}
    _migrations_applied = True
    return {"ok": True}


def forget_migrations_answer() -> None:
    """Drop the cached positive answer (tests, and after a migrate in the same process)."""
    global _migrations_applied
    _migrations_applied = False


def beat_heartbeat_age(now: float | None = None) -> float | None:
    """Seconds since the last heartbeat, or None if there never was one. Raises on Redis errors."""
    raw = redis_client(settings.REDIS_URL).get(BEAT_HEARTBEAT_KEY)
    if raw is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, round(current - float(raw), 3))


def check_beat() -> Check:
    try:
        age = beat_heartbeat_age()
    except Exception as exc:
        return _failure(exc)
    return {"ok": age is not None and age <= BEAT_STALE_AFTER_SECONDS, "age_seconds": age}


def check_queue() -> Check:
    try:
        depth = int(redis_client(settings.CELERY_BROKER_URL).llen(CELERY_DEFAULT_QUEUE))
    except Exception as exc:
        return _failure(exc)
    # No threshold here: what counts as "too deep" depends on the load; alert on the number instead.
    return {"ok": True, "depth": depth}


def check_otlp_grpc() -> Check:
    """An Export without a key, answered UNAUTHENTICATED: the receiver is up and serving the
    OTLP services (it needs neither database nor Redis to say so, and stores nothing)."""
    import grpc

    port = int(settings.OTLP_GRPC_PORT)
    if port == 0:
        return {"ok": True, "enabled": False}
    address = settings.OTLP_GRPC_CHECK_ADDRESS or f"127.0.0.1:{port}"
    started = time.perf_counter()
    with grpc.insecure_channel(address) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        try:
            export(b"", timeout=REDIS_TIMEOUT_SECONDS)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            if code == grpc.StatusCode.UNAUTHENTICATED:
                return {"ok": True, "latency_ms": _elapsed_ms(started)}
            return {"ok": False, "error": code.name if code else type(exc).__name__}
    return {"ok": False, "error": "answered without a key"}


def check_alerts() -> Check:
    """Seconds the oldest due alert policy has waited for its evaluation."""
    try:
        from apps.alerts.scheduler import evaluator_lag

        lag = evaluator_lag()
    except Exception as exc:
        logger.warning("readiness: alerts check failed: %s", type(exc).__name__)
        return _failure(exc)
    return {"ok": lag <= ALERT_LAG_LIMIT_SECONDS, "lag_seconds": round(lag, 3)}


def readiness() -> tuple[bool, dict[str, Any]]:
    """Run every check; ready means every check in REQUIRED_CHECKS passed.

    A dependency that failed is not asked again by the checks that need it: a black-holed Redis
    would otherwise cost one socket timeout per check, and the probe would time out first.
    """
    database = check_database()
    redis_check = check_redis()
    redis_down: Check = {"ok": False, "error": "redis unavailable"}
    same_broker = settings.CELERY_BROKER_URL == settings.REDIS_URL
    checks: dict[str, Any] = {
        "database": database,
        "redis": redis_check,
        "migrations": check_migrations() if database["ok"] or _migrations_applied else _skipped(),
        "beat": check_beat() if redis_check["ok"] else redis_down,
        "queue": check_queue() if redis_check["ok"] or not same_broker else redis_down,
        "otlp_grpc": check_otlp_grpc(),
        "alerts": check_alerts() if database["ok"] else _skipped(),
    }
    is_ready = all(checks[name]["ok"] for name in REQUIRED_CHECKS)
    return is_ready, checks
