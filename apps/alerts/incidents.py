"""Incidents and transitions: what a state change writes, and what members do to incidents.

Every function here runs inside the caller's transaction (the evaluation's, or the one that
acknowledges/resolves), so the transition rows — the notification outbox — commit with the
state they describe, and the live announcement goes out only after that commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.alerts.evaluation import Change
from apps.alerts.models import AlertInstance, Incident, IncidentState, Policy, State, Transition
from apps.alerts.signals import outbox_written
from apps.dashboards import events, live

LIVE_KIND = "alerts"


def incident_title(policy: Policy, labels: dict[str, Any]) -> str:
    groups = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return f"{policy.name} ({groups})"[:300] if groups else policy.name[:300]


def _transition(
    policy: Policy,
    instance: AlertInstance,
    change: Change,
    at: datetime,
    incident: Incident | None,
    actor: Any = None,
) -> Transition:
    """The row, unsaved."""
    return Transition(
        project_id=policy.project_id,
        policy=policy,
        instance=instance,
        incident=incident,
        at=at,
        from_state=change.from_state,
        to_state=change.to_state,
        value=change.value,
        threshold=change.threshold,
        labels={**policy.labels, **instance.labels},
        health=change.health,
        actor=actor,
        notify=change.notify,
        is_flapping=change.is_flapping,
    )


def apply_changes(
    policy: Policy, instance: AlertInstance, changes: list[Change], now: datetime
) -> list[Transition]:
    """Open the incident on entering firing, close it on leaving; one transition per change.
    The instance's `incident` is updated in memory; saving the instance is the caller's."""
    return changes_record([(policy, instance, changes)], now)


def changes_record(
    batch: list[tuple[Policy, AlertInstance, list[Change]]], now: datetime
) -> list[Transition]:
    """apply_changes for a whole evaluation batch, in three statements whatever its size (an
    INSERT of the incidents opened, one UPDATE closing incidents, an INSERT of the transitions):
    500 groups of one policy starting to fire together are one round trip, not a thousand."""
    opened: list[Incident] = []
    closed: list[int] = []
    rows: list[Transition] = []
    for policy, instance, changes in batch:
        for change in changes:
            incident = instance.incident
            if change.to_state == State.FIRING and change.from_state != State.FIRING and incident is None:
                incident = Incident(
                    project_id=policy.project_id,
                    policy=policy,
                    instance=instance,
                    title=incident_title(policy, instance.labels),
                    priority=policy.priority,
                    labels={**policy.labels, **instance.labels},
                    opened_at=now,
                    opened_value=change.value,
                )
                opened.append(incident)
                instance.incident = incident
            rows.append(_transition(policy, instance, change, now, incident))
            leaves_firing = change.from_state == State.FIRING and change.to_state != State.FIRING
            if leaves_firing and incident is not None:
                if incident.resolved_at is None:
                    incident.resolved_at = now
                    incident.state = IncidentState.RESOLVED
                    if incident.pk is not None:
                        closed.append(incident.pk)
                instance.incident = None
    # Ids come back from PostgreSQL (RETURNING): the transitions' foreign keys are then set from
    # the incidents they hold.
    Incident.objects.bulk_create(opened)
    if closed:
        # `resolved_at IS NULL`: a member who resolved it by hand meanwhile keeps his time.
        Incident.objects.filter(pk__in=closed, resolved_at__isnull=True).update(
            resolved_at=now, state=IncidentState.RESOLVED
        )
    written = Transition.objects.bulk_create(rows)
    _tell_outbox_on_commit(written)
    return written


def _tell_outbox_on_commit(rows: list[Transition]) -> None:
    if any(row.notify for row in rows):
        # robust: with the broker down the commit stands and the dispatch tick takes the rows.
        transaction.on_commit(lambda: outbox_written.send_robust(Transition), robust=True)


class IncidentClosed(Exception):
    """Acknowledging or resolving an incident that is already resolved."""


def incident_acknowledge(incident: Incident, actor: Any, now: datetime | None = None) -> Transition:
    now = now or timezone.now()
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update().select_related("policy", "instance").get(pk=incident.pk)
        )
        if incident.resolved_at is not None:
            raise IncidentClosed("This incident is resolved.")
        if incident.acknowledged_at is not None:
            raise IncidentClosed("This incident is already acknowledged.")
        incident.acknowledged_at, incident.acknowledged_by = now, actor
        incident.state = IncidentState.ACKNOWLEDGED
        incident.save(update_fields=["acknowledged_at", "acknowledged_by", "state"])
        instance = incident.instance
        change = Change(
            State.FIRING,
            State.ACKNOWLEDGED,
            instance.last_value,
            incident.policy.threshold,
            True,
            False,
            instance.health,
        )
        row = _transition(incident.policy, instance, change, now, incident, actor)
        row.save()
        _tell_outbox_on_commit([row])
        announce_on_commit(incident.project_id, [row])
    return row


def incident_resolve(incident: Incident, actor: Any, now: datetime | None = None) -> Transition:
    """Resolved by a member: the instance returns to resolved (quiet). If the condition still
    holds, the next evaluation opens a new incident — the member said this one is over."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.select_for_update().select_related("policy").get(pk=incident.pk)
        if incident.resolved_at is not None:
            raise IncidentClosed("This incident is already resolved.")
        instance = AlertInstance.objects.select_for_update().get(pk=incident.instance_id)
        incident.resolved_at, incident.resolved_by = now, actor
        incident.state = IncidentState.RESOLVED
        incident.save(update_fields=["resolved_at", "resolved_by", "state"])
        change = Change(
            instance.state,
            State.RESOLVED,
            instance.last_value,
            incident.policy.threshold,
            True,
            False,
            instance.health,
        )
        row = _transition(incident.policy, instance, change, now, incident, actor)
        row.save()
        _tell_outbox_on_commit([row])
        instance.state, instance.since, instance.notified_state = State.RESOLVED, now, State.RESOLVED
        instance.pending_since = instance.last_breach_at = None
        instance.incident = None
        instance.save(
            update_fields=["state", "since", "notified_state", "pending_since", "last_breach_at", "incident"]
        )
        announce_on_commit(incident.project_id, [row])
    return row


def transition_payload(row: Transition) -> dict[str, Any]:
    return {
        "id": row.pk,
        "policy_id": row.policy_id,
        "instance_id": row.instance_id,
        "incident_id": row.incident_id,
        "at": row.at.isoformat(),
        "from": row.from_state,
        "to": row.to_state,
        "value": row.value,
        "threshold": row.threshold,
        "labels": row.labels,
        "is_flapping": row.is_flapping,
    }


def announce_on_commit(project_id: int, rows: list[Transition]) -> None:
    if not rows:
        return
    payload = {
        "count": len(rows),
        "transitions": [transition_payload(row) for row in rows][: events.TRANSITIONS_PER_EVENT],
    }
    transaction.on_commit(lambda: live.announce(project_id, LIVE_KIND, payload))
