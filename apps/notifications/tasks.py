"""Notification tasks: thin wrappers over dispatch.py and sender.py, both safe to run twice and
in parallel (every claim is SKIP LOCKED)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import transaction

from apps.notifications import dispatch, sender

logger = logging.getLogger(__name__)


@shared_task(name="apps.notifications.tasks.dispatch")
def dispatch_transitions() -> int:
    """Every 5 s, and at once when alerts commit transitions (dispatch_soon): new alert
    transitions into groups (or PagerDuty deliveries), due groups into deliveries; then a send
    task if anything was made."""
    claimed = dispatch.transitions_dispatch()
    made = dispatch.groups_flush()
    if made or claimed:
        transaction.on_commit(send_deliveries.delay)
    return claimed


@shared_task(name="apps.notifications.tasks.send")
def send_deliveries() -> int:
    """Send due deliveries (first attempts and retries whose time has come)."""
    return sender.send_due()


def dispatch_soon(**_: Any) -> None:
    """apps.alerts.signals.outbox_written: queue a dispatch now rather than wait for the tick.
    Never raises (the rows are committed; the tick takes them if this cannot be queued)."""
    try:
        dispatch_transitions.apply_async(retry=False)
    except Exception:
        logger.warning("could not queue a notifications dispatch; the next tick takes it", exc_info=True)
