"""Operational tasks: the beat heartbeat that /health/ready reads."""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings

from apps.ops.health import BEAT_HEARTBEAT_KEY, redis_client

# Long enough to read "stale for 40 minutes" rather than "never"; short enough not to linger forever.
HEARTBEAT_TTL_SECONDS = 24 * 60 * 60


@shared_task(name="apps.ops.tasks.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> float:
    """Record that beat enqueued and a worker ran a task just now.

    It travels beat -> broker -> worker, so a fresh heartbeat proves all three are alive.
    Safe to run twice: it only overwrites one timestamp.
    """
    now = time.time()
    redis_client(settings.REDIS_URL).set(BEAT_HEARTBEAT_KEY, repr(now), ex=HEARTBEAT_TTL_SECONDS)
    return now
