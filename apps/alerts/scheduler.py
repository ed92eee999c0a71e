"""Running policies on their slots: which are due, the claim of one slot, and one evaluation.

Design note — exactly one evaluation per slot, and none lost.
* A slot is `next_due_at`. The beat tick (tasks.tick, every 10 s) lists due policies and enqueues
  one task each; duplicates (two ticks, a redelivered task) are harmless because of the claim.
* Claim: one conditional UPDATE sets a fresh `claim_token` and a lease, only if the slot is due
  and nobody holds an unexpired claim. PostgreSQL serialises the two UPDATEs of a race on the row
  lock and re-checks the WHERE clause for the second, so exactly one worker gets rowcount 1.
* The telemetry is read outside any transaction (long reads must not hold row locks), then the
  result is written in one transaction that first re-locks the policy row *with our token*: a
  worker whose lease expired meanwhile (it stalled, another took over) finds the token changed
  and writes nothing. Instance states, transitions, incidents and the next slot commit together,
  so a crash at any point leaves either the whole evaluation or none of it; the slot stays due
  and is claimed again once the lease has expired.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.alerts import incidents
from apps.alerts.evaluation import InstanceState, Rules, step
from apps.alerts.evaluators import Labels, measure
from apps.alerts.models import AlertInstance, Policy, Transition

# Longer than any evaluation takes (they read at most 24 h of telemetry, in seconds): a stalled
# worker's slot is taken over after this.
LEASE = timedelta(seconds=90)
TICK_BATCH = 5000


@dataclass(frozen=True)
class Claim:
    policy_id: int
    token: uuid.UUID
    slot: datetime


def due_policies(now: datetime) -> QuerySet[Policy]:
    return Policy.objects.filter(
        Q(claim_token__isnull=True) | Q(claim_expires_at__lte=now), enabled=True, next_due_at__lte=now
    )


def due_policy_ids(now: datetime, limit: int = TICK_BATCH) -> list[int]:
    return list(due_policies(now).order_by("next_due_at").values_list("id", flat=True)[:limit])


def policy_claim(policy_id: int, now: datetime) -> Claim | None:
    """The slot of a due policy for this worker, or None (not due, or another worker has it)."""
    token = uuid.uuid4()
    with transaction.atomic(), connection.cursor() as cursor:
        # A claim lost in a crash is only a slot taken again after the lease: no need to wait for
        # the WAL flush (the evaluation's own commit is durable when it writes transitions).
        cursor.execute("SET LOCAL synchronous_commit = off")
        claimed = (
            due_policies(now).filter(pk=policy_id).update(claim_token=token, claim_expires_at=now + LEASE)
        )
    if claimed != 1:
        return None
    slot = Policy.objects.filter(pk=policy_id).values_list("next_due_at", flat=True).get()
    return Claim(policy_id, token, slot)


def next_slot(slot: datetime, interval_seconds: int, now: datetime) -> datetime:
    """The first slot after `now` on the policy's grid (missed slots are skipped, not replayed)."""
    interval = timedelta(seconds=interval_seconds)
    if slot > now:
        return slot
    return slot + ((now - slot) // interval + 1) * interval


def rules_of(policy: Policy) -> Rules:
    return Rules(
        op=policy.op,
        threshold=policy.threshold,
        resolve_threshold=policy.resolve_threshold,
        for_seconds=policy.for_seconds,
        keep_firing_for_seconds=policy.keep_firing_for_seconds,
        no_data=policy.no_data,
        on_error=policy.on_error,
        flap_stable_seconds=policy.flap_stable_seconds,
    )


def state_of(instance: AlertInstance) -> InstanceState:
    return InstanceState(
        state=instance.state,
        health=instance.health,
        since=instance.since,
        pending_since=instance.pending_since,
        last_breach_at=instance.last_breach_at,
        quiet_since=instance.quiet_since,
        last_value=instance.last_value,
        recent_changes=tuple(instance.recent_changes),
        is_flapping=instance.is_flapping,
        last_change_at=instance.last_change_at,
        notified_state=instance.notified_state,
    )


INSTANCE_FIELDS = [
    "state",
    "health",
    "since",
    "pending_since",
    "last_breach_at",
    "quiet_since",
    "last_value",
    "recent_changes",
    "is_flapping",
    "last_change_at",
    "notified_state",
    "last_evaluated_at",
    "incident",
]


def policy_evaluate(claim: Claim, now: datetime | None = None) -> list[Transition] | None:
    """Evaluate a claimed slot and commit its outcome; None if the claim was lost meanwhile."""
    now = now or timezone.now()
    policy = Policy.objects.select_related("project").get(pk=claim.policy_id)
    known: dict[str, Labels] = {i.labels_key: i.labels for i in policy.instances.all()}
    samples = measure(policy, now, known)
    rules = rules_of(policy)
    written: list[Transition] = []
    with transaction.atomic():
        # Our token still on the row, locked: nobody else can commit this slot now.
        if not Policy.objects.select_for_update().filter(pk=policy.pk, claim_token=claim.token).exists():
            return None
        instances = {
            i.labels_key: i
            for i in policy.instances.select_for_update(of=("self",)).select_related("incident")
        }
        evaluated = []
        for key, (labels, sample) in samples.items():
            instance = instances.get(key) or AlertInstance.objects.create(
                policy=policy, labels=labels, labels_key=key, since=now
            )
            outcome = step(rules, state_of(instance), sample, now)
            for name, value in vars(outcome.state).items():
                setattr(instance, name, list(value) if name == "recent_changes" else value)
            instance.last_evaluated_at = now
            written += incidents.apply_changes(policy, instance, outcome.changes, now)
            evaluated.append(instance)
        AlertInstance.objects.bulk_update(evaluated, INSTANCE_FIELDS)  # one UPDATE for all groups
        if not written:
            # Nothing for the outbox: losing this commit in a crash loses only last values, which
            # the next slot measures again. Commits with transitions wait for the WAL flush.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        errors = sorted({s.error for _, s in samples.values() if s.error})
        Policy.objects.filter(pk=policy.pk).update(
            next_due_at=next_slot(claim.slot, policy.interval_seconds, now),
            claim_token=None,
            claim_expires_at=None,
            last_evaluated_at=now,
            last_error=errors[0] if errors else "",
        )
        incidents.announce_on_commit(policy.project_id, written)
    return written


def evaluate_due(policy_id: int, now: datetime | None = None) -> list[Transition] | None:
    """The task's body: claim the policy's slot if due, evaluate it. None when not claimed."""
    now = now or timezone.now()
    claim = policy_claim(policy_id, now)
    if claim is None:
        return None
    return policy_evaluate(claim, now)


def evaluator_lag(now: datetime | None = None) -> float:
    """Seconds the oldest due enabled policy has waited past its slot (0 when none waits)."""
    now = now or timezone.now()
    oldest = Policy.objects.filter(enabled=True, next_due_at__lte=now).order_by("next_due_at").first()
    return max(0.0, (now - oldest.next_due_at).total_seconds()) if oldest else 0.0
