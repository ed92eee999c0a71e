"""What holds a notification back: silences, maintenance windows and inhibition.

* Silences: label matchers (`=`, `!=`, `=~`, `!~`, as Alertmanager's) evaluated with RE2, whose
  matching time is linear in the input — a tenant's regex cannot stall the dispatcher.
* Maintenance windows: weekly, in an IANA zone. The test is done on the wall clock of that zone
  (zoneinfo), so "Sunday 02:00-04:00 Europe/Berlin" means that local time on both sides of a DST
  change; a window ending before it starts runs past midnight into the next day.
* Inhibition: while a service is reported down (an open incident of an `absence` or `heartbeat`
  policy carrying its `service` label), that service's other alerts are symptoms, not news.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import re2
from django.db import transaction

from apps import audit
from apps.alerts.models import Incident, Kind
from apps.notifications import announce
from apps.notifications.models import MaintenanceWindow, Silence

OPS = ("=", "!=", "=~", "!~")


class MatcherError(ValueError):
    pass


def check_matchers(matchers: Any) -> list[dict[str, str]]:
    if not isinstance(matchers, list):
        raise MatcherError("matchers must be a list of {name, op, value}")
    clean = []
    for matcher in matchers:
        if not isinstance(matcher, dict) or not all(
            isinstance(matcher.get(k), str) for k in ("name", "op", "value")
        ):
            raise MatcherError("each matcher is {name, op, value}, all strings")
        if matcher["op"] not in OPS:
            raise MatcherError(f"op must be one of {', '.join(OPS)}")
        if matcher["op"] in ("=~", "!~"):
            try:
                re2.compile(matcher["value"])
            except re2.error as exc:
                raise MatcherError(
                    f"{matcher['value']!r} is not a valid RE2 regular expression: {exc}"
                ) from None
        clean.append({"name": matcher["name"], "op": matcher["op"], "value": matcher["value"]})
    return clean


def matcher_matches(matcher: dict[str, str], labels: dict[str, Any]) -> bool:
    value = str(labels.get(matcher["name"], ""))  # a missing label is "", as in Alertmanager
    op = matcher["op"]
    if op == "=":
        return value == matcher["value"]
    if op == "!=":
        return value != matcher["value"]
    found = re2.fullmatch(matcher["value"], value) is not None
    return found if op == "=~" else not found


def silence_matches(silence: Silence, policy_id: int, labels: dict[str, Any], now: datetime) -> bool:
    return (
        silence.starts_at <= now < silence.ends_at
        and (silence.policy_id is None or silence.policy_id == policy_id)
        and all(matcher_matches(m, labels) for m in silence.matchers)
    )


def active_silences(project_id: int, now: datetime) -> list[Silence]:
    return list(Silence.objects.filter(project_id=project_id, starts_at__lte=now, ends_at__gt=now))


def silence_incident(
    incident: Incident, hours: float, actor: Any, now: datetime, comment: str = ""
) -> Silence:
    """Silence this incident's policy for its labels (each label by equality)."""
    matchers = [{"name": k, "op": "=", "value": str(v)} for k, v in sorted(incident.labels.items())]
    with transaction.atomic():
        silence = Silence.objects.create(
            project_id=incident.project_id,
            policy_id=incident.policy_id,
            matchers=matchers,
            starts_at=now,
            ends_at=now + timedelta(hours=hours),
            comment=comment or f"Silenced from a notification of incident {incident.pk}",
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        audit.record(
            "notifications.silence.create",
            actor=actor,
            organization=incident.project.organization,
            target=silence,
            after={
                "policy": incident.policy_id,
                "matchers": matchers,
                "ends_at": silence.ends_at.isoformat(),
            },
        )
        announce.quieting_changed_on_commit(incident.project_id)
    return silence


def window_active(window: MaintenanceWindow, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(window.tz))
    clock, day = local.time().replace(tzinfo=None), local.weekday()
    start, end = window.start_time, window.end_time
    if start < end:
        return day in window.weekdays and start <= clock < end
    # Crosses midnight: the evening of a listed day, or the early hours after one.
    return (day in window.weekdays and clock >= start) or ((day - 1) % 7 in window.weekdays and clock < end)


def check_window(weekdays: Any, start: Any, end: Any, tz: Any) -> dict[str, str]:
    errors: dict[str, str] = {}
    if (
        not isinstance(weekdays, list)
        or not weekdays
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in weekdays)
    ):
        errors["weekdays"] = "must be a non-empty list of days, 0 (Monday) to 6 (Sunday)"
    for name, value in (("start_time", start), ("end_time", end)):
        if not isinstance(value, time):
            errors[name] = "must be a time of day, HH:MM"
    if isinstance(start, time) and start == end:
        errors["end_time"] = "must differ from start_time"
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        errors["tz"] = "must be an IANA time zone such as Europe/Berlin"
    return errors


class Quieting:
    """Everything that may hold back a project's notifications right now, loaded once."""

    def __init__(self, project_id: int, now: datetime) -> None:
        self.now = now
        self.silences = active_silences(project_id, now)
        self.windows = [
            w for w in MaintenanceWindow.objects.filter(project_id=project_id) if window_active(w, now)
        ]
        self.down_services = {
            str(labels["service"])
            for labels in Incident.objects.filter(
                project_id=project_id,
                resolved_at__isnull=True,
                policy__kind__in=[Kind.ABSENCE, Kind.HEARTBEAT],
            ).values_list("labels", flat=True)
            if "service" in labels
        }

    def reason(self, policy_id: int, kind: str, labels: dict[str, Any]) -> str:
        """Why this alert is held back ("" when it is not)."""
        if any(silence_matches(s, policy_id, labels, self.now) for s in self.silences):
            return "silenced"
        if any(all(matcher_matches(m, labels) for m in w.matchers) for w in self.windows):
            return "maintenance"
        if (
            kind not in (Kind.ABSENCE, Kind.HEARTBEAT)
            and str(labels.get("service", "")) in self.down_services
        ):
            return "inhibited"
        return ""


def silence_create(project: Any, fields: dict[str, Any], actor: Any, key: Any = None) -> Silence:
    with transaction.atomic():
        silence = Silence.objects.create(
            project=project, created_by=actor if getattr(actor, "pk", None) else None, **fields
        )
        audit.record(
            "notifications.silence.create",
            actor=actor,
            key=key,
            organization=project.organization,
            target=silence,
            after=silence_snapshot(silence),
        )
        announce.quieting_changed_on_commit(project.pk)
    return silence


def silence_expire(silence: Silence, actor: Any, now: datetime, key: Any = None) -> Silence:
    with transaction.atomic():
        silence.ends_at = min(silence.ends_at, now)
        silence.save(update_fields=["ends_at"])
        audit.record(
            "notifications.silence.expire",
            actor=actor,
            key=key,
            organization=silence.project.organization,
            target=silence,
            after=silence_snapshot(silence),
        )
        announce.quieting_changed_on_commit(silence.project_id)
    return silence


def silence_snapshot(silence: Silence) -> dict[str, Any]:
    return {
        "policy": silence.policy_id,
        "matchers": silence.matchers,
        "starts_at": silence.starts_at.isoformat(),
        "ends_at": silence.ends_at.isoformat(),
        "comment": silence.comment,
    }
