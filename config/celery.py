"""Celery application and the beat schedule (DESIGN.md §6).

Every periodic task is idempotent and guarded against overlapping runs by the task itself.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("vigil")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # /health/ready reports beat as stale when this stops arriving.
    "ops-beat-heartbeat": {"task": "apps.ops.tasks.beat_heartbeat", "schedule": 15.0},
}
