"""Celery application and the beat schedule (DESIGN.md §6).

Every periodic task is idempotent and guarded against overlapping runs by the task itself.
"""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("vigil")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # /health/ready reports beat as stale when this stops arriving.
    "ops-beat-heartbeat": {"task": "apps.ops.tasks.beat_heartbeat", "schedule": 15.0},
    # Daily; runs hourly so a missed day (worker down at the time) never lets data linger a day longer.
    "billing-enforce-retention": {"task": "apps.billing.tasks.enforce_retention", "schedule": 3600.0},
    # Usage counters Redis -> PostgreSQL; the usage page and API lag by at most this interval.
    "billing-flush-usage": {"task": "apps.billing.tasks.flush_usage", "schedule": 60.0},
    # Daily is enough for a monthly statement; hourly so a worker outage on the 1st delays it by an hour.
    "billing-close-statements": {"task": "apps.billing.tasks.close_statements", "schedule": 3600.0},
    # Nightly: metered vs stored rows per project, signal and day (apps/billing/recount.py).
    "billing-recount-usage": {
        "task": "apps.billing.tasks.recount_usage",
        "schedule": crontab(hour=3, minute=17),
    },
    # Spike protection's allowances (this hour and the next) from the 7-day same-hour baseline.
    "billing-spike-allowances": {
        "task": "apps.billing.tasks.refresh_spike_allowances",
        "schedule": 600.0,
        "options": {"expires": 600.0},
    },
    "ingestion-create-partitions": {
        "task": "apps.ingestion.tasks.create_partitions_ahead",
        "schedule": 3600.0,
    },
    # Due alert policies -> one evaluation task each (apps/alerts/scheduler.py claims the slots).
    # Expires: a tick older than the next one is useless, the next one lists the same policies.
    "alerts-tick": {"task": "apps.alerts.tasks.tick", "schedule": 10.0, "options": {"expires": 10.0}},
    # Alert transitions -> grouped deliveries, then sending (apps/notifications; claims are SKIP LOCKED).
    "notifications-dispatch": {
        "task": "apps.notifications.tasks.dispatch",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "notifications-send": {
        "task": "apps.notifications.tasks.send",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "errors-delete-expired-events": {"task": "apps.errors.tasks.delete_expired_events", "schedule": 3600.0},
    "errors-group-pending": {
        "task": "apps.errors.tasks.group_pending",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "metrics-rollup": {"task": "apps.metrics.tasks.rollup_metrics", "schedule": 60.0},
    "logs-count": {"task": "apps.logs.tasks.count_logs", "schedule": 60.0},
    "logs-indexes": {"task": "apps.logs.tasks.build_indexes", "schedule": 600.0},
    "logs-trace-blooms": {"task": "apps.logs.tasks.summarize_trace_blooms", "schedule": 60.0},
    "dashboards-count-events": {"task": "apps.dashboards.tasks.count_events", "schedule": 60.0},
    # Demo projects only (manage.py demo): one cheap query when there are none. Expires so a
    # backlog after a worker outage is dropped instead of replayed (each run covers the gap anyway).
    "dashboards-demo-trickle": {
        "task": "apps.dashboards.tasks.demo_trickle",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
}
