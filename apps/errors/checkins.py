"""Sentry cron check-ins (`check_in` items) → Vigil heartbeat monitors.

A check-in names its monitor by `monitor_slug` and says `in_progress` (a run started), `ok` or
`error` (it finished). It becomes a ping of the project's heartbeat with that slug through
apps.alerts' service, so a Sentry-monitored job and a `/ping/<uuid>` job are the same thing to
the alerts app: a late or failed run fires the heartbeat's policy.

`monitor_config` (sent by `@monitor(monitor_slug=..., monitor_config=...)` and the Celery beat
integration) makes the monitor when the slug is new and keeps its schedule in step with the code:
  schedule {"type": "crontab", "value": "0 2 * * *"} | {"type": "interval", "value": 2, "unit": "hour"}
  checkin_margin (minutes)  → the grace time (Sentry's default: 1 minute)
  max_runtime (minutes)     → how long an in_progress run may last
  timezone                  → the cron schedule's IANA zone
"""

from __future__ import annotations

import logging
from typing import Any

from apps.alerts.models import PingKind, ScheduleKind
from apps.alerts.services import heartbeat_ping_slug
from apps.alerts.specs import SpecError
from apps.billing.limits import LimitReached
from apps.errors.models import DsnKey

logger = logging.getLogger(__name__)

STATUSES = {"in_progress": PingKind.START, "ok": PingKind.SUCCESS, "error": PingKind.FAIL}
# Sentry's interval units, in seconds (months and years as Sentry counts them for margins).
UNITS = {
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}
MINUTE = 60


def _minutes(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 10**6:
        return max(MINUTE, int(value * MINUTE))
    return None


def heartbeat_fields(config: Any) -> dict[str, Any] | None:
    """A Sentry `monitor_config` as heartbeat fields; None when it has no schedule Vigil reads."""
    if not isinstance(config, dict):
        return None
    schedule = config.get("schedule")
    if not isinstance(schedule, dict):
        return None
    fields: dict[str, Any]
    kind, value = schedule.get("type"), schedule.get("value")
    if kind == "crontab" and isinstance(value, str):
        timezone = config.get("timezone")
        fields = {
            "schedule_kind": ScheduleKind.CRON,
            "cron": value.strip(),
            "tz": timezone if isinstance(timezone, str) and timezone else "UTC",
        }
    elif kind == "interval" and isinstance(value, int) and not isinstance(value, bool) and value > 0:
        unit = UNITS.get(str(schedule.get("unit")))
        if unit is None:
            return None
        fields = {"schedule_kind": ScheduleKind.PERIOD, "period_seconds": value * unit}
    else:
        return None
    fields["grace_seconds"] = _minutes(config.get("checkin_margin")) or MINUTE
    fields["max_runtime_seconds"] = _minutes(config.get("max_runtime"))
    return fields


def checkin_store(key: DsnKey, organization_id: int, payload: dict[str, Any]) -> None:
    """Apply one check-in. Check-ins for a slug Vigil does not know (and cannot make: no config)
    or with an invalid config are dropped with a log line: an SDK must never retry them."""
    slug = payload.get("monitor_slug")
    kind = STATUSES.get(str(payload.get("status")))
    if not isinstance(slug, str) or not slug or kind is None:
        return
    fields = heartbeat_fields(payload.get("monitor_config"))
    try:
        heartbeat = heartbeat_ping_slug(key.project, slug, kind, fields)
    except (SpecError, LimitReached) as exc:  # a bad config, or the plan's policies are used up
        logger.info("sentry check-in for %r dropped: %s", slug, exc)
        return
    if heartbeat is None:
        logger.info("sentry check-in for unknown monitor %r without monitor_config dropped", slug)
