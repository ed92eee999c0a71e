"""The JSON shapes of the alerts API: reading a policy body (POST/PATCH) into model fields, and
presenting policies, instances, incidents, transitions and heartbeats.

A policy body (every field but name/kind optional on POST; any subset on PATCH):

    {"name": "API errors", "kind": "log_count",
     "query": "level>=error service:api", "group_by": "service",     (log kinds: or inside "spec")
     "metric": {...} | "span": {...} | "absence": {...} | "spec": {...},
     "condition": {"op": ">", "threshold": 10, "window": "5m", "resolve_threshold": null},
     "for": "5m", "keep_firing_for": "0s", "interval": "60s", "flap_stable_for": "10m",
     "no_data": "keep_last", "on_error": "keep_last", "priority": "P1", "labels": {"team": "core"},
     "runbook_url": "https://...", "description": "", "enabled": true}

Anything wrong is a SpecError naming each field: the API answers 400 with them in details.
"""

from __future__ import annotations

from typing import Any

from apps.alerts.durations import format_duration, parse_duration
from apps.alerts.evaluators import heartbeat_is_down
from apps.alerts.models import (
    AlertInstance,
    Heartbeat,
    Incident,
    Kind,
    MissingMode,
    Op,
    Policy,
    Priority,
    ScheduleKind,
    State,
    Transition,
)
from apps.alerts.specs import SpecError

TOP_LEVEL = {
    "name",
    "kind",
    "description",
    "spec",
    "query",
    "total_query",
    "group_by",
    "metric",
    "span",
    "absence",
    "condition",
    "for",
    "keep_firing_for",
    "interval",
    "flap_stable_for",
    "no_data",
    "on_error",
    "priority",
    "labels",
    "runbook_url",
    "enabled",
}
DURATIONS = {
    "for": "for_seconds",
    "keep_firing_for": "keep_firing_for_seconds",
    "interval": "interval_seconds",
    "flap_stable_for": "flap_stable_seconds",
}
SPEC_OBJECTS = {"metric": Kind.METRIC, "span": Kind.SPAN, "absence": Kind.ABSENCE}
LOG_KEYS = ("query", "total_query", "group_by")
MAX_DURATION_SECONDS = 7 * 86400


def _number(value: Any, name: str, errors: dict[str, str], nullable: bool = False) -> float | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or abs(value) > 1e300:
        errors[name] = "must be a number" + (" or null" if nullable else "")
        return None
    return float(value)


def _duration(value: Any, name: str, errors: dict[str, str]) -> int | None:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        errors[name] = str(exc)
        return None
    if seconds > MAX_DURATION_SECONDS:
        errors[name] = "must be at most 7d"
        return None
    return seconds


def _choice(value: Any, name: str, choices: list[str], errors: dict[str, str]) -> str | None:
    if value not in choices:
        errors[name] = f"must be one of {', '.join(choices)}"
        return None
    return str(value)


def _condition(value: Any, fields: dict[str, Any], errors: dict[str, str]) -> None:
    if not isinstance(value, dict):
        errors["condition"] = "must be an object {op, threshold, window, resolve_threshold}"
        return
    unknown = set(value) - {"op", "threshold", "window", "resolve_threshold"}
    if unknown:
        errors["condition"] = f"unknown field(s): {', '.join(sorted(unknown))}"
    if "op" in value:
        fields["op"] = _choice(value["op"], "condition.op", Op.values, errors)
    if "threshold" in value:
        fields["threshold"] = _number(value["threshold"], "condition.threshold", errors)
    if "resolve_threshold" in value:
        fields["resolve_threshold"] = _number(
            value["resolve_threshold"], "condition.resolve_threshold", errors, nullable=True
        )
    if "window" in value:
        fields["window_seconds"] = _duration(value["window"], "condition.window", errors)


def _spec(data: dict[str, Any], kind: str | None, current: dict[str, Any] | None) -> dict[str, Any] | None:
    """The spec from "spec", the kind's object ("metric", ...) or the top-level log keys."""
    if "spec" in data:
        return data["spec"] if isinstance(data["spec"], dict) else {"__invalid__": True}
    for key, object_kind in SPEC_OBJECTS.items():
        if key in data and kind == object_kind:
            return data[key]
    if kind in (Kind.LOG_COUNT, Kind.LOG_RATIO) and any(k in data for k in LOG_KEYS):
        base = dict(current or {})
        base.update({k: data[k] for k in LOG_KEYS if k in data})
        return base
    return None


def policy_fields(data: Any, policy: Policy | None = None) -> dict[str, Any]:
    """Model fields from a POST (policy None) or PATCH body."""
    if not isinstance(data, dict):
        raise SpecError({"body": "must be a JSON object"})
    errors: dict[str, str] = {}
    unknown = set(data) - TOP_LEVEL
    if unknown:
        errors["body"] = f"unknown field(s): {', '.join(sorted(unknown))}"
    fields: dict[str, Any] = {}
    if policy is None:
        for required in ("name", "kind"):
            if required not in data:
                errors[required] = "is required"
    if "kind" in data:
        if policy is not None and data["kind"] != policy.kind:
            errors["kind"] = "cannot be changed; create a new policy"
        elif data["kind"] == Kind.HEARTBEAT and policy is None:
            errors["kind"] = "heartbeat policies are made by POST /api/v1/projects/{id}/heartbeats"
        else:
            fields["kind"] = _choice(data["kind"], "kind", [k for k in Kind.values], errors)
    kind = fields.get("kind") or (policy.kind if policy else None)
    for name in ("name", "description", "runbook_url"):
        if name in data:
            if not isinstance(data[name], str):
                errors[name] = "must be a string"
            else:
                fields[name] = data[name].strip()
    if "condition" in data:
        _condition(data["condition"], fields, errors)
    for key, field in DURATIONS.items():
        if key in data:
            fields[field] = _duration(data[key], key, errors)
    for key, choices in (("no_data", MissingMode.values), ("on_error", MissingMode.values)):
        if key in data:
            fields[key] = _choice(data[key], key, choices, errors)
    if "priority" in data:
        fields["priority"] = _choice(data["priority"], "priority", Priority.values, errors)
    if "labels" in data:
        fields["labels"] = data["labels"]
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            errors["enabled"] = "must be true or false"
        fields["enabled"] = data["enabled"]
    spec = _spec(data, kind, policy.spec if policy else None)
    if spec is not None:
        fields["spec"] = spec
    elif policy is None:
        fields["spec"] = {}
    if errors:
        raise SpecError(errors)
    return fields


def instance_json(instance: AlertInstance) -> dict[str, Any]:
    return {
        "id": instance.pk,
        "labels": instance.labels,
        "state": instance.state,
        "health": instance.health,
        "since": instance.since,
        "value": instance.last_value,
        "is_flapping": instance.is_flapping,
        "is_acknowledged": instance.is_acknowledged,
        "incident_id": instance.incident_id,
        "last_evaluated_at": instance.last_evaluated_at,
    }


STATE_RANK: dict[str, int] = {State.FIRING: 3, State.PENDING: 2, State.RESOLVED: 1, State.NORMAL: 0}


def policy_json(policy: Policy, instances: list[AlertInstance] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": policy.pk,
        "project": policy.project_id,
        "name": policy.name,
        "kind": policy.kind,
        "description": policy.description,
        "spec": policy.spec,
        "condition": {
            "op": policy.op,
            "threshold": policy.threshold,
            "window": format_duration(policy.window_seconds),
            "resolve_threshold": policy.resolve_threshold,
        },
        "for": format_duration(policy.for_seconds),
        "keep_firing_for": format_duration(policy.keep_firing_for_seconds),
        "interval": format_duration(policy.interval_seconds),
        "flap_stable_for": format_duration(policy.flap_stable_seconds),
        "no_data": policy.no_data,
        "on_error": policy.on_error,
        "priority": policy.priority,
        "labels": policy.labels,
        "runbook_url": policy.runbook_url,
        "enabled": policy.enabled,
        "created_at": policy.created_at,
        "updated_at": policy.updated_at,
        "last_evaluated_at": policy.last_evaluated_at,
        "last_error": policy.last_error or None,
    }
    if instances is not None:
        states = [i.state for i in instances]
        result["state"] = max(states, key=lambda s: STATE_RANK.get(s, 0)) if states else State.NORMAL
        result["instances"] = [instance_json(i) for i in instances]
    return result


def transition_json(row: Transition) -> dict[str, Any]:
    return {
        "id": row.pk,
        "at": row.at,
        "from": row.from_state,
        "to": row.to_state,
        "value": row.value,
        "threshold": row.threshold,
        "labels": row.labels,
        "health": row.health,
        "actor": row.actor.email if row.actor_id and row.actor else None,
        "notify": row.notify,
        "is_flapping": row.is_flapping,
        "incident_id": row.incident_id,
    }


def incident_json(incident: Incident, transitions: list[Transition] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": incident.pk,
        "project": incident.project_id,
        "policy_id": incident.policy_id,
        "instance_id": incident.instance_id,
        "title": incident.title,
        "state": incident.state,
        "priority": incident.priority,
        "labels": incident.labels,
        "opened_at": incident.opened_at,
        "opened_value": incident.opened_value,
        "acknowledged_at": incident.acknowledged_at,
        "acknowledged_by": incident.acknowledged_by.email if incident.acknowledged_by else None,
        "resolved_at": incident.resolved_at,
        "resolved_by": incident.resolved_by.email if incident.resolved_by else None,
    }
    if transitions is not None:
        result["transitions"] = [transition_json(t) for t in transitions]
    return result


HEARTBEAT_FIELDS = {"name", "schedule", "period", "grace", "cron", "tz", "priority", "slug", "max_runtime"}


def heartbeat_fields(data: Any, partial: bool) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise SpecError({"body": "must be a JSON object"})
    errors: dict[str, str] = {}
    unknown = set(data) - HEARTBEAT_FIELDS
    if unknown:
        errors["body"] = f"unknown field(s): {', '.join(sorted(unknown))}"
    if not partial and "name" not in data:
        errors["name"] = "is required"
    fields: dict[str, Any] = {}
    if "name" in data:
        if not isinstance(data["name"], str):
            errors["name"] = "must be a string"
        else:
            fields["name"] = data["name"].strip()
    if "schedule" in data:
        fields["schedule_kind"] = _choice(data["schedule"], "schedule", ScheduleKind.values, errors)
    elif "cron" in data and not partial:
        fields["schedule_kind"] = ScheduleKind.CRON
    for key in ("period", "grace"):
        if key in data:
            try:
                fields[f"{key}_seconds"] = parse_duration(data[key])
            except ValueError as exc:
                errors[key] = str(exc)
    if "max_runtime" in data:
        try:
            fields["max_runtime_seconds"] = (
                None if data["max_runtime"] is None else parse_duration(data["max_runtime"])
            )
        except ValueError as exc:
            errors["max_runtime"] = str(exc)
    for key in ("cron", "tz", "slug"):
        if key in data:
            if not isinstance(data[key], str) or len(data[key]) > 100:
                errors[key] = "must be a string"
            else:
                fields[key] = data[key].strip()
    if "priority" in data:
        if partial:
            errors["priority"] = "is set on the heartbeat's policy"
        fields["priority"] = _choice(data["priority"], "priority", Priority.values, errors)
    if errors:
        raise SpecError(errors)
    return fields


def heartbeat_status(heartbeat: Heartbeat, now: Any) -> str:
    if heartbeat_is_down(heartbeat, now):
        return "down"
    if heartbeat.last_ping_at is None and heartbeat.last_start_at is None:
        return "new"
    if heartbeat.last_start_at and (
        heartbeat.last_ping_at is None or heartbeat.last_start_at > heartbeat.last_ping_at
    ):
        return "started"
    return "up"


def heartbeat_json(heartbeat: Heartbeat, ping_url: str, now: Any) -> dict[str, Any]:
    return {
        "id": heartbeat.pk,
        "name": heartbeat.name,
        "ping_url": ping_url,
        "schedule": heartbeat.schedule_kind,
        "period": format_duration(heartbeat.period_seconds),
        "grace": format_duration(heartbeat.grace_seconds),
        "cron": heartbeat.cron,
        "tz": heartbeat.tz,
        "slug": heartbeat.slug,
        "max_runtime": format_duration(heartbeat.max_runtime_seconds)
        if heartbeat.max_runtime_seconds
        else None,
        "status": heartbeat_status(heartbeat, now),
        "last_ping_at": heartbeat.last_ping_at,
        "last_ping_kind": heartbeat.last_ping_kind or None,
        "last_start_at": heartbeat.last_start_at,
        "policy_id": heartbeat.policy_id,
        "created_at": heartbeat.created_at,
    }
