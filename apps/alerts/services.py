"""Writes of alert policies and heartbeats: validated, audited in the same transaction.

`actor` is who acts (a user, or None for the system); `key` the API key it came through, if any.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps import audit
from apps.alerts.models import (
    MIN_INTERVAL_SECONDS,
    Heartbeat,
    Kind,
    Op,
    PingKind,
    Policy,
    ScheduleKind,
)
from apps.alerts.specs import SpecError, validate_spec
from apps.billing import limits
from apps.projects.models import Project

logger = logging.getLogger(__name__)

MAX_WINDOW_SECONDS = 24 * 3600
SLUG = re.compile(r"[A-Za-z0-9_.-]{1,64}")
INTERVAL_STEP_SECONDS = 10


def check_policy(policy: Policy) -> None:
    """Every rule a policy must satisfy beyond its field types; SpecError naming the fields."""
    errors: dict[str, str] = {}
    try:
        policy.spec = validate_spec(policy.kind, policy.spec)
    except SpecError as exc:
        errors.update(exc.errors)
    if policy.interval_seconds < MIN_INTERVAL_SECONDS or policy.interval_seconds % INTERVAL_STEP_SECONDS:
        errors["interval"] = "must be at least 10s and a multiple of 10s"
    if policy.kind != Kind.HEARTBEAT and not 60 <= policy.window_seconds <= MAX_WINDOW_SECONDS:
        errors["window"] = "must be from 1m to 24h"
    if policy.op not in Op.values:
        errors["op"] = f"must be one of {', '.join(Op.values)}"
    if not policy.name.strip():
        errors["name"] = "is required"
    if not isinstance(policy.labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in policy.labels.items()
    ):
        errors["labels"] = "must be an object of string keys and string values"
    if errors:
        raise SpecError(errors)


def policy_create(project: Project, fields: dict[str, Any], actor: Any, key: Any = None) -> Policy:
    """Raises SpecError (invalid fields) or billing's LimitReached (the plan's policies per
    project are used up: a 409 naming the limit and the plan)."""
    policy = Policy(project=project, created_by=actor if getattr(actor, "pk", None) else None, **fields)
    check_policy(policy)
    with transaction.atomic():
        check_room_for_policies(project, 1)
        policy.save()
        audit.record(
            "alerts.policy.create",
            actor=actor,
            key=key,
            organization=project.organization,
            target=policy,
            after=policy.snapshot(),
        )
    return policy


def check_room_for_policies(project: Project, adding: int) -> None:
    """The plan's alert policies per project (apps.billing.limits), counted under the
    organization's lock so two concurrent creations cannot both take the last place."""
    limits.lock_organization(project.organization_id)
    limits.check_policy_limit(project, Policy.objects.filter(project=project).count(), adding)


def policy_update(policy: Policy, fields: dict[str, Any], actor: Any, key: Any = None) -> Policy:
    before = policy.snapshot()
    for name, value in fields.items():
        setattr(policy, name, value)
    check_policy(policy)
    policy.updated_at = timezone.now()
    with transaction.atomic():
        policy.save()
        after = policy.snapshot()
        changed = {name for name in after if after[name] != before[name]}
        audit.record(
            "alerts.policy.change",
            actor=actor,
            key=key,
            organization=policy.project.organization,
            target=policy,
            before={name: before[name] for name in changed},
            after={name: after[name] for name in changed},
        )
    return policy


def policy_delete(policy: Policy, actor: Any, key: Any = None) -> None:
    with transaction.atomic():
        audit.record(
            "alerts.policy.delete",
            actor=actor,
            key=key,
            organization=policy.project.organization,
            target=policy,
            before=policy.snapshot(),
        )
        policy.delete()


# --- Heartbeats ------------------------------------------------------------------------------


def check_heartbeat(heartbeat: Heartbeat) -> None:
    errors: dict[str, str] = {}
    if not heartbeat.name.strip():
        errors["name"] = "is required"
    if heartbeat.schedule_kind == ScheduleKind.CRON:
        try:
            ZoneInfo(heartbeat.tz)
        except (ZoneInfoNotFoundError, ValueError):
            errors["tz"] = "must be an IANA time zone such as Europe/Berlin"
        try:
            next(CronSim(heartbeat.cron, datetime.now(ZoneInfo("UTC"))))
        except (CronSimError, StopIteration, ValueError):
            errors["cron"] = "must be a cron expression with 5 fields, e.g. '30 2 * * *'"
    elif heartbeat.schedule_kind == ScheduleKind.PERIOD:
        if not 60 <= heartbeat.period_seconds <= 365 * 86400:
            errors["period"] = "must be from 1m to 365d"
    else:
        errors["schedule"] = "must be period or cron"
    if not 60 <= heartbeat.grace_seconds <= 365 * 86400:
        errors["grace"] = "must be from 1m to 365d"
    if heartbeat.max_runtime_seconds is not None and not 60 <= heartbeat.max_runtime_seconds <= 7 * 86400:
        errors["max_runtime"] = "must be from 1m to 7d"
    if heartbeat.slug and not SLUG.fullmatch(heartbeat.slug):
        errors["slug"] = "must be 1 to 64 characters: letters, digits, '-', '_' or '.'"
    elif (
        heartbeat.slug
        and Heartbeat.objects.filter(project_id=heartbeat.project_id, slug=heartbeat.slug)
        .exclude(pk=heartbeat.pk)
        .exists()
    ):
        errors["slug"] = "another monitor of this project has this slug"
    if errors:
        raise SpecError(errors)


HEARTBEAT_POLICY_DEFAULTS: dict[str, Any] = {
    "kind": Kind.HEARTBEAT,
    "op": Op.GT,
    "threshold": 0.0,  # the heartbeat evaluator answers 1 when the monitor is down, else 0
    "window_seconds": 60,
    "interval_seconds": 60,
}


def heartbeat_create(
    project: Project, fields: dict[str, Any], actor: Any, key: Any = None, priority: str = "P2"
) -> Heartbeat:
    """A monitor and the policy that watches it (same name, priority, labels)."""
    heartbeat = Heartbeat(project=project, uuid=uuid.uuid4(), **fields)
    check_heartbeat(heartbeat)
    with transaction.atomic():
        policy = policy_create(
            project,
            {
                **HEARTBEAT_POLICY_DEFAULTS,
                "name": heartbeat.name,
                "priority": priority,
                "spec": {"heartbeat": str(heartbeat.uuid)},
            },
            actor,
            key,
        )
        heartbeat.policy = policy
        heartbeat.save()
        audit.record(
            "alerts.heartbeat.create",
            actor=actor,
            key=key,
            organization=project.organization,
            target=heartbeat,
            after=heartbeat_snapshot(heartbeat),
        )
    return heartbeat


def heartbeat_snapshot(heartbeat: Heartbeat) -> dict[str, Any]:
    return {
        "name": heartbeat.name,
        "schedule_kind": heartbeat.schedule_kind,
        "period_seconds": heartbeat.period_seconds,
        "grace_seconds": heartbeat.grace_seconds,
        "cron": heartbeat.cron,
        "tz": heartbeat.tz,
        "slug": heartbeat.slug,
        "max_runtime_seconds": heartbeat.max_runtime_seconds,
    }


def heartbeat_update(heartbeat: Heartbeat, fields: dict[str, Any], actor: Any, key: Any = None) -> Heartbeat:
    before = heartbeat_snapshot(heartbeat)
    for name, value in fields.items():
        setattr(heartbeat, name, value)
    check_heartbeat(heartbeat)
    with transaction.atomic():
        heartbeat.save()
        if heartbeat.policy.name != heartbeat.name:
            Policy.objects.filter(pk=heartbeat.policy_id).update(name=heartbeat.name)
        Policy.objects.filter(pk=heartbeat.policy_id).update(next_due_at=timezone.now())
        audit.record(
            "alerts.heartbeat.change",
            actor=actor,
            key=key,
            organization=heartbeat.project.organization,
            target=heartbeat,
            before=before,
            after=heartbeat_snapshot(heartbeat),
        )
    return heartbeat


def heartbeat_delete(heartbeat: Heartbeat, actor: Any, key: Any = None) -> None:
    with transaction.atomic():
        audit.record(
            "alerts.heartbeat.delete",
            actor=actor,
            key=key,
            organization=heartbeat.project.organization,
            target=heartbeat,
            before=heartbeat_snapshot(heartbeat),
        )
        heartbeat.policy.delete()  # cascades to the heartbeat


def heartbeat_ping(ping_uuid: uuid.UUID, kind: str, now: datetime | None = None) -> bool:
    """Record a ping; False for an unknown uuid. The policy is made due and handed to a worker
    on commit, so a `fail` (or the first ping after an outage) is evaluated at once, not on a
    batch planned by the beat tick (with the queue unreachable, the next tick takes the slot)."""
    now = now or timezone.now()
    fields: dict[str, Any] = (
        {"last_start_at": now} if kind == PingKind.START else {"last_ping_at": now, "last_ping_kind": kind}
    )
    with transaction.atomic():
        heartbeat = Heartbeat.objects.select_for_update().filter(uuid=ping_uuid).first()
        if heartbeat is None:
            return False
        Heartbeat.objects.filter(pk=heartbeat.pk).update(**fields)
        Policy.objects.filter(pk=heartbeat.policy_id).update(next_due_at=now)
        transaction.on_commit(lambda: _evaluate_at_once(heartbeat.policy_id))
    return True


def _evaluate_at_once(policy_id: int) -> None:
    from apps.alerts.tasks import evaluate_policy  # when used: the tasks import most of apps.alerts

    try:
        evaluate_policy.apply_async((policy_id,), retry=False)
    except Exception:
        logger.warning(
            "alerts: could not queue a heartbeat's evaluation; the next tick takes it", exc_info=True
        )


def heartbeat_ping_slug(
    project: Project, slug: str, kind: str, fields: dict[str, Any] | None = None, now: datetime | None = None
) -> Heartbeat | None:
    """Record a ping for the project's monitor named `slug` (a Sentry cron check-in). With
    `fields` (a schedule: schedule_kind, period_seconds or cron + tz, grace_seconds,
    max_runtime_seconds) the monitor is made when none has that slug yet, and its schedule follows
    them when they changed (the SDK's config in code is the source of truth, as in Sentry).
    None when no monitor has the slug and no valid schedule came with the ping. SpecError when
    `fields` are invalid for a monitor that does not exist yet."""
    now = now or timezone.now()
    heartbeat = Heartbeat.objects.select_related("policy").filter(project=project, slug=slug).first()
    if heartbeat is None and fields:
        try:
            with transaction.atomic():
                heartbeat = heartbeat_create(project, {"name": slug, "slug": slug, **fields}, actor=None)
        except IntegrityError:
            # A concurrent check-in of the same new monitor made it first: ping that one.
            heartbeat = Heartbeat.objects.select_related("policy").filter(project=project, slug=slug).first()
    elif heartbeat is not None and fields:
        changed = {name: value for name, value in fields.items() if getattr(heartbeat, name) != value}
        if changed:
            try:
                heartbeat_update(heartbeat, changed, actor=None)
            except SpecError:
                heartbeat.refresh_from_db()  # a bad config in code does not break a working monitor
    if heartbeat is None:
        return None
    heartbeat_ping(heartbeat.uuid, kind, now)
    return heartbeat
