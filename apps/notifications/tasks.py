"""Notification tasks: thin wrappers over dispatch.py and sender.py, both safe to run twice and
in parallel (every claim is SKIP LOCKED)."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from apps.notifications import dispatch, sender


@shared_task(name="apps.notifications.tasks.dispatch")
def dispatch_transitions() -> int:
    """Every 5 s: new alert transitions into groups (or PagerDuty deliveries), due groups into
    deliveries; then a send task if anything was made."""
    claimed = dispatch.transitions_dispatch()
    made = dispatch.groups_flush()
    if made or claimed:
        transaction.on_commit(send_deliveries.delay)
    return claimed


@shared_task(name="apps.notifications.tasks.send")
def send_deliveries() -> int:
    """Send due deliveries (first attempts and retries whose time has come)."""
    return sender.send_due()
