"""Silences: label matchers (`=`, `!=`, `=~`, `!~`, as Alertmanager's) evaluated with RE2, whose
matching time is linear in the input — a tenant's regex cannot stall the dispatcher."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import re2
from django.db import transaction

from apps import audit
from apps.alerts.models import Incident
from apps.notifications.models import Silence

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
    return silence
