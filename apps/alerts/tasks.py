"""Beat tasks of alerts: thin wrappers, the claiming and evaluation live in scheduler.py."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.alerts import scheduler

# At most this many batch tasks per tick: 500 x 50 slots, far above what workers evaluate in 10 s.
MAX_BATCHES_PER_TICK = 500


@shared_task(name="apps.alerts.tasks.tick")
def tick() -> int:
    """Every 10 s: one batch task per batch of the slots due by the next tick, each to run when
    its batch is due (scheduler.batches_plan); the number of tasks. A batch that finds nothing
    left to claim (overlapping ticks, a slow queue) is one cheap UPDATE, never a second
    evaluation. A task not run by the next tick has expired: that tick plans its slots again."""
    now = timezone.now()
    batches = scheduler.batches_plan(now, MAX_BATCHES_PER_TICK)
    for at in batches:
        if at > now:
            evaluate_due_policies.apply_async(eta=at, expires=at + scheduler.TICK)
        else:
            evaluate_due_policies.apply_async(expires=now + scheduler.TICK)
    return len(batches)


@shared_task(name="apps.alerts.tasks.evaluate_due_policies")
def evaluate_due_policies() -> int:
    """Claim up to BATCH due slots and evaluate them; the number evaluated."""
    return scheduler.evaluate_batch()


@shared_task(name="apps.alerts.tasks.evaluate_policy")
def evaluate_policy(policy_id: int) -> int | None:
    """One policy now, if due (a heartbeat's ping makes it due): the number of transitions
    written, or None when the slot was not ours (not due any more, or another worker has it)."""
    written = scheduler.evaluate_due(policy_id)
    return None if written is None else len(written)
