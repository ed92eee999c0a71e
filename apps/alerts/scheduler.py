"""Running policies on their slots: which are due, the claim of one slot, and one evaluation.

Design note — exactly one evaluation per slot, and none lost.
* A slot is `next_due_at`. The beat tick (tasks.tick, every TICK) plans the slots due by the next
  tick into batch tasks (batches_plan): a batch runs once BATCH of its slots are due, or
  BATCH_WAIT after its first one, whichever comes first. A batch's fixed statements (claim, load,
  write transaction) are then shared by up to BATCH evaluations, and a slot waits at most
  BATCH_WAIT instead of up to a whole tick. A task claims only slots already due when it runs and
  evaluates them at that instant, so it never reads a window that ends in the future (data not
  yet arrived would look like a quiet window). Surplus tasks (two ticks, a redelivered task)
  claim nothing or a few slots and are harmless; a planned task that never runs leaves its slots
  due for the next tick. A policy made due by an event (a heartbeat's ping, an issue change) does
  not wait for any plan: its own task (tasks.evaluate_policy) claims it at once. An event that
  makes a policy due while a worker holds its slot (the evaluation may have read before the
  event) moves `next_due_at` past the claimed slot; the release then keeps it due instead of
  moving it to the next slot, and queues the policy's own task after the commit.
* Claim: one UPDATE sets a fresh `claim_token` and a lease on up to BATCH due slots nobody holds
  (CLAIM_BATCH, `FOR UPDATE SKIP LOCKED`), or on one given policy (policy_claim, a conditional
  UPDATE: PostgreSQL serialises the UPDATEs of a race on the row lock and re-checks the WHERE
  clause for the second, so exactly one worker gets rowcount 1).
* The telemetry is read outside any transaction (long reads must not hold row locks), then the
  batch's results are written in one transaction that first re-locks the policy rows *with our token*: a
  worker whose lease expired meanwhile (it stalled, another took over) finds the token changed
  and writes nothing. Instance states, transitions, incidents and the next slot commit together,
  so a crash at any point leaves either the whole evaluation or none of it; the slot stays due
  and is claimed again once the lease has expired.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.alerts import incidents, recent
from apps.alerts.evaluation import Change, InstanceState, Rules, step
from apps.alerts.evaluators import Labels, Samples, measure_batch
from apps.alerts.models import AlertInstance, Policy, Transition

logger = logging.getLogger(__name__)

# Longer than any evaluation takes (they read at most 24 h of telemetry, in seconds): a stalled
# worker's slot is taken over after this.
LEASE = timedelta(seconds=90)
TICK_BATCH = 5000
# Beat's schedule of tasks.tick (config/celery.py): how far ahead a tick plans.
TICK = timedelta(seconds=10)
# How long a batch may wait for more of its slots to come due. The evaluation lag budget is 10 s
# (BENCHMARKS.md); with 10,000 one-minute policies 50 slots come due in 0.3 s, so batches fill
# long before this, and with few policies a slot waits at most this long.
BATCH_WAIT = timedelta(seconds=1)


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
        # Read under the claim's row lock: an event making the policy due again after our commit
        # must find the slot we hold (the release compares against it).
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


def policy_evaluate(claim: Claim, now: datetime | None = None) -> list[Transition] | None:
    """Evaluate one claimed slot and commit its outcome; None if the claim was lost meanwhile."""
    return claims_evaluate([claim], now).get(claim.policy_id)


def claims_evaluate(claims: list[Claim], now: datetime | None = None) -> dict[int, list[Transition]]:
    """Evaluate claimed slots (one token) and commit them in one transaction: policy id ->
    transitions written, for each claim still held. A handful of statements per batch plus its
    telemetry reads, grouped (apps.alerts.reads): a few statements for the whole batch, except
    metric policies (three each) and new_pattern baselines."""
    if not claims:
        return {}
    now = now or timezone.now()
    slots = {claim.policy_id: claim.slot for claim in claims}
    # The heartbeat rides along (a reverse one-to-one): heartbeat policies read no other row.
    loaded = Policy.objects.filter(pk__in=slots).select_related("project", "heartbeat")
    policies = {p.pk: p for p in loaded}
    known: dict[int, dict[str, Labels]] = {pk: {} for pk in policies}
    for policy_id, key, labels in AlertInstance.objects.filter(policy_id__in=policies).values_list(
        "policy_id", "labels_key", "labels"
    ):
        known[policy_id][key] = labels
    # Telemetry is read outside the transaction: long reads must not hold the row locks.
    measured = measure_batch(list(policies.values()), now, known)
    with transaction.atomic():
        # Our token still on the rows: release them onto their next slot, which also locks them
        # (nobody else can commit these slots now). Rows another worker took over after our lease
        # expired no longer carry our token: they are not `held`, and we write nothing for them.
        held, made_due = _slots_release(policies, slots, measured, claims[0].token, now)
        if made_due:
            transaction.on_commit(lambda: _evaluate_soon(made_due), robust=True)
        instances = _instances_lock(held)
        # Groups seen for the first time: one INSERT for the batch (ids come back from PostgreSQL).
        new = [
            AlertInstance(policy=policies[pk], labels=labels, labels_key=key, since=now)
            for pk in held
            for key, (labels, _) in measured[pk].items()
            if key not in instances[pk]
        ]
        for instance in AlertInstance.objects.bulk_create(new):
            instances[instance.policy_id][instance.labels_key] = instance
        evaluated: list[AlertInstance] = []
        changed: list[tuple[Policy, AlertInstance, list[Change]]] = []
        for pk in sorted(held):
            _step_all(policies[pk], measured[pk], instances[pk], now, evaluated, changed)
        written = incidents.changes_record(changed, now)  # before the instances: new incident ids
        _instances_write(evaluated, now)
        results: dict[int, list[Transition]] = {pk: [] for pk in sorted(held)}
        for row in written:
            results[row.policy_id].append(row)
        if not written:
            # Nothing for the outbox: losing this commit in a crash loses only last values, which
            # the next slot measures again. Commits with transitions wait for the WAL flush.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        for pk, rows in results.items():
            incidents.announce_on_commit(policies[pk].project_id, rows)
    recent.note_samples({pk: measured[pk] for pk in results}, now)  # the policy list's sparklines
    return results


# Raw SQL for the batch's writes: Django's bulk_update builds a CASE WHEN per row and field, and
# resolving those expressions cost more CPU than everything else an evaluation does (profiled:
# 80 % of the evaluator's time). One UPDATE ... FROM unnest(arrays) is one short statement.
# `p.next_due_at > v.slot`: an event made the policy due again while we held it (error_kinds,
# heartbeat pings): it stays due. RETURNING sees the new row, so such a row is one whose
# next_due_at is not the slot computed here.
SLOTS_RELEASE = """
UPDATE alerts_policy AS p
SET next_due_at = CASE WHEN p.next_due_at > v.slot THEN p.next_due_at ELSE v.next_due_at END,
    claim_token = NULL, claim_expires_at = NULL, last_evaluated_at = %s, last_error = v.last_error
FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::text[])
    AS v(id, slot, next_due_at, last_error)
WHERE p.id = v.id AND p.claim_token = %s
RETURNING p.id, p.next_due_at <> v.next_due_at
"""


def _slots_release(
    policies: dict[int, Policy],
    slots: dict[int, datetime],
    measured: dict[int, Samples],
    token: uuid.UUID,
    now: datetime,
) -> tuple[set[int], list[int]]:
    """Move each slot we still hold on to its next one and drop the claim: the ids held, and
    those of them made due again meanwhile (kept due)."""
    ids = sorted(policies)  # one lock order for every worker
    claimed = [slots[pk] for pk in ids]
    due = [next_slot(slots[pk], policies[pk].interval_seconds, now) for pk in ids]
    errors = [min((s.error for _, s in measured[pk].values() if s.error), default="") for pk in ids]
    with connection.cursor() as cursor:
        cursor.execute(SLOTS_RELEASE, [now, ids, claimed, due, errors, token])
        rows = cursor.fetchall()
    return {pk for pk, _ in rows}, [pk for pk, again in rows if again]


def _evaluate_soon(policy_ids: list[int]) -> None:
    from apps.alerts.tasks import evaluate_policy  # tasks import this module

    for policy_id in policy_ids:
        try:
            evaluate_policy.apply_async((policy_id,), retry=False)
        except Exception:
            logger.warning("alerts: could not queue a policy made due; the next tick takes it", exc_info=True)
            return


def _instances_lock(held: set[int]) -> dict[int, dict[str, AlertInstance]]:
    """The held policies' instances, locked: an ack or resolve by a member waits for our commit."""
    instances: dict[int, dict[str, AlertInstance]] = {pk: {} for pk in held}
    if not held:
        return instances
    locked = AlertInstance.objects.select_for_update(of=("self",)).select_related("incident")
    for instance in locked.filter(policy_id__in=held).order_by("id"):
        instances[instance.policy_id][instance.labels_key] = instance
    return instances


INSTANCES_WRITE = """
UPDATE alerts_alertinstance AS i
SET state = v.state, health = v.health, since = v.since, pending_since = v.pending_since,
    last_breach_at = v.last_breach_at, quiet_since = v.quiet_since, last_value = v.last_value,
    recent_changes = v.recent_changes::jsonb, is_flapping = v.is_flapping,
    last_change_at = v.last_change_at, notified_state = v.notified_state,
    last_evaluated_at = %s, incident_id = v.incident_id
FROM unnest(
    %s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[],
    %s::timestamptz[], %s::float8[], %s::text[], %s::boolean[], %s::timestamptz[], %s::text[],
    %s::bigint[]
) AS v(id, state, health, since, pending_since, last_breach_at, quiet_since, last_value,
       recent_changes, is_flapping, last_change_at, notified_state, incident_id)
WHERE i.id = v.id
"""


def _instances_write(evaluated: list[AlertInstance], now: datetime) -> None:
    """Every evaluated instance's new state in one statement (columns as arrays)."""
    if not evaluated:
        return
    rows = sorted(evaluated, key=lambda instance: instance.pk)
    columns: list[list[Any]] = [
        [i.pk for i in rows],
        [i.state for i in rows],
        [i.health for i in rows],
        [i.since for i in rows],
        [i.pending_since for i in rows],
        [i.last_breach_at for i in rows],
        [i.quiet_since for i in rows],
        [i.last_value for i in rows],
        [json.dumps(list(i.recent_changes)) for i in rows],
        [i.is_flapping for i in rows],
        [i.last_change_at for i in rows],
        [i.notified_state for i in rows],
        # The cached object, not incident_id: an incident opened in this batch got its id after
        # it was assigned to the instance.
        [i.incident.pk if i.incident is not None else None for i in rows],
    ]
    for instance in rows:
        instance.last_evaluated_at = now
    with connection.cursor() as cursor:
        cursor.execute(INSTANCES_WRITE, [now, *columns])


def _step_all(
    policy: Policy,
    samples: Samples,
    instances: dict[str, AlertInstance],
    now: datetime,
    evaluated: list[AlertInstance],
    changed: list[tuple[Policy, AlertInstance, list[Change]]],
) -> None:
    """Step each group's instance (in memory); the changes to record go to `changed`."""
    rules = rules_of(policy)
    for key, (_, sample) in samples.items():
        instance = instances[key]
        outcome = step(rules, state_of(instance), sample, now)
        for name, value in vars(outcome.state).items():
            setattr(instance, name, list(value) if name == "recent_changes" else value)
        instance.last_evaluated_at = now
        if outcome.changes:
            changed.append((policy, instance, outcome.changes))
        evaluated.append(instance)


BATCH = 50
CLAIM_BATCH = """
UPDATE alerts_policy SET claim_token = %s, claim_expires_at = %s
WHERE id IN (
    SELECT id FROM alerts_policy
    WHERE enabled AND next_due_at <= %s AND (claim_token IS NULL OR claim_expires_at <= %s)
    ORDER BY next_due_at LIMIT %s
    FOR UPDATE SKIP LOCKED
)
RETURNING id, next_due_at
"""
# SKIP LOCKED: a concurrent claimer passes over rows being claimed instead of waiting for them;
# a row claimed and committed meanwhile fails the re-checked WHERE clause. Either way one owner.


def policies_claim(now: datetime, limit: int = BATCH) -> list[Claim]:
    """Up to `limit` due slots, oldest first, under one token; [] when none is due and free."""
    token = uuid.uuid4()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")  # see policy_claim
        cursor.execute(CLAIM_BATCH, [token, now + LEASE, now, now, limit])
        rows = cursor.fetchall()
    return [Claim(policy_id, token, slot) for policy_id, slot in rows]


def batches_plan(now: datetime, limit: int) -> list[datetime]:
    """When to run each batch task for the free slots due by the next tick, earliest first: at
    most `limit` batches (the rest waits for the next tick)."""
    slots = (
        Policy.objects.filter(
            Q(claim_token__isnull=True) | Q(claim_expires_at__lte=now),
            enabled=True,
            next_due_at__lte=now + TICK,
        )
        .order_by("next_due_at")
        .values_list("next_due_at", flat=True)[: limit * BATCH]
    )
    return batch_times(list(slots), now)


def batch_times(slots: list[datetime], now: datetime) -> list[datetime]:
    """Sorted slots cut into batches of at most BATCH slots spanning at most BATCH_WAIT: the
    instant each batch's last slot is due (`now` for slots already due, which batch together)."""
    times: list[datetime] = []
    first = last = now
    size = 0
    for slot in slots:
        due = max(slot, now)
        if size and (size == BATCH or due > first + BATCH_WAIT):
            times.append(last)
            size = 0
        if not size:
            first = due
        last = due
        size += 1
    if size:
        times.append(last)
    return times


def evaluate_batch(now: datetime | None = None, limit: int = BATCH) -> int:
    """A worker task's body: claim a batch of due slots and evaluate them. Slots evaluated."""
    now = now or timezone.now()
    return len(claims_evaluate(policies_claim(now, limit), now))


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
