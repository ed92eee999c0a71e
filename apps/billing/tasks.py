from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.billing import notices, statements, usage
from apps.billing.retention import drop_expired_partitions
from apps.storage.partitions import forget_partitions


@shared_task(name="apps.billing.tasks.enforce_retention")
def enforce_retention() -> int:
    """Daily: drop partitions past retention. Safe to run twice or concurrently (see the callee)."""
    dropped = drop_expired_partitions(timezone.now())
    if dropped:
        forget_partitions()  # this worker's memory of which partitions exist
    return len(dropped)


@shared_task(name="apps.billing.tasks.flush_usage")
def flush_usage() -> int:
    """Every minute: move the Redis usage counters into PostgreSQL, then send the usage notices
    they crossed. Safe to run twice or concurrently: each batch of counters is applied exactly
    once (apps.billing.usage), each notice is sent once per period (apps.billing.notices)."""
    applied = usage.flush()
    notices.notify_thresholds(timezone.now())
    return applied


@shared_task(name="apps.billing.tasks.close_statements")
def close_statements() -> int:
    """Daily: make last period's statements (once each) and report them to the provider."""
    return statements.close_previous_period(timezone.now())
