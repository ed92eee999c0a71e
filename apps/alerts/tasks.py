"""Beat tasks of alerts: thin wrappers, the claiming and evaluation live in scheduler.py."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.alerts import scheduler


@shared_task(name="apps.alerts.tasks.tick")
def tick() -> int:
    """Every 10 s: one evaluation task per due policy. Enqueuing a policy twice (overlapping
    ticks, a slow queue) costs one failed claim, never a second evaluation."""
    due = scheduler.due_policy_ids(timezone.now())
    for policy_id in due:
        evaluate_policy.delay(policy_id)
    return len(due)


@shared_task(name="apps.alerts.tasks.evaluate_policy")
def evaluate_policy(policy_id: int) -> int | None:
    """Claim the policy's slot and evaluate it; the number of transitions written, or None when
    the slot was not ours (not due any more, or another worker holds it)."""
    written = scheduler.evaluate_due(policy_id)
    return None if written is None else len(written)
