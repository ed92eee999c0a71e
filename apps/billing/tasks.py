from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.billing import notices, recount, spikes, statements, usage
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
    they crossed and the spike episodes they show. Safe to run twice or concurrently: each batch of
    counters is applied exactly once (apps.billing.usage), each notice is sent once per period
    (apps.billing.notices), each spike episode once per project and hour (apps.billing.spikes)."""
    applied = usage.flush()
    now = timezone.now()
    notices.notify_thresholds(now)
    spikes.notify_episodes(now)
    return applied


@shared_task(name="apps.billing.tasks.refresh_spike_allowances")
def refresh_spike_allowances() -> int:
    """Every 10 minutes: each protected project's allowance for this hour and the next, from its
    7-day same-hour baseline, into Redis where ingestion's script reads it. Idempotent."""
    return spikes.refresh_allowances(timezone.now())


@shared_task(name="apps.billing.tasks.close_statements")
def close_statements() -> int:
    """Daily: make last period's statements (once each) and report them to the provider."""
    return statements.close_previous_period(timezone.now())


@shared_task(name="apps.billing.tasks.recount_usage")
def recount_usage() -> int:
    """Nightly: accepted records as metered vs rows as stored for the last two full days; each
    difference is a UsageRecount row for staff (apps.billing.recount). Re-running replaces them."""
    return recount.recount_recent(timezone.now())
