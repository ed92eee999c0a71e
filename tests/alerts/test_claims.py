"""Slots are claimed atomically on PostgreSQL: two workers racing write each change once, and a
slot abandoned mid-evaluation is evaluated again after the lease, without a duplicate."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection

from apps.alerts import scheduler
from apps.alerts.models import Incident, Policy, Transition
from apps.alerts.tasks import tick
from tests.alerts.conftest import BASE, log, make_policy
from tests.telemetry import ingest_logs as ingest

NOW = BASE


@pytest.fixture
def committed(transactional_db, committed_logs_cleanup):
    yield


def race(workers: int, work) -> list:
    """Run work(index) in `workers` threads (one database connection each), started together."""
    barrier = threading.Barrier(workers)
    results: list = [None] * workers
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    return results


def test_two_workers_racing_on_the_same_due_policies_write_each_change_once(committed, org_a):
    policies = [
        make_policy(org_a.project, "log_count", {"query": "level>=error"}, name=f"p{i}", threshold=0)
        for i in range(20)
    ]
    ids = [p.pk for p in policies]
    Policy.objects.update(next_due_at=NOW)
    with time_machine.travel(NOW, tick=False):
        ingest(org_a.ingest_key, [log(1, NOW)])

        def worker(index: int) -> int:
            order = ids if index == 0 else list(reversed(ids))
            return sum(1 for pk in order if scheduler.evaluate_due(pk, NOW) is not None)

        evaluated = race(2, worker)

    assert sum(evaluated) == 20  # every slot evaluated exactly once between the two
    per_policy = {
        pk: list(Transition.objects.filter(policy_id=pk).values_list("from_state", "to_state")) for pk in ids
    }
    assert all(rows == [("normal", "firing")] for rows in per_policy.values()), per_policy
    assert Incident.objects.filter(policy_id__in=ids).count() == 20
    # Next slots are one interval on, and the claims are released.
    assert set(Policy.objects.values_list("next_due_at", "claim_token")) == {
        (NOW + timedelta(seconds=60), None)
    }


def test_a_slot_abandoned_mid_evaluation_is_evaluated_again_after_the_lease_once(committed, org_a):
    policy = make_policy(org_a.project, "log_count", {"query": "level>=error"}, threshold=0)
    Policy.objects.filter(pk=policy.pk).update(next_due_at=NOW)
    with time_machine.travel(NOW, tick=False):
        ingest(org_a.ingest_key, [log(1, NOW)])
    stalled = scheduler.policy_claim(policy.pk, NOW)  # a worker claims, then dies
    assert stalled is not None

    # Within the lease nobody else may take the slot.
    assert scheduler.evaluate_due(policy.pk, NOW + timedelta(seconds=30)) is None
    assert policy.pk not in scheduler.due_policy_ids(NOW + timedelta(seconds=30))
    # Past the lease it is due again, and evaluated.
    after_lease = NOW + scheduler.LEASE + timedelta(seconds=1)
    assert policy.pk in scheduler.due_policy_ids(after_lease)
    written = scheduler.evaluate_due(policy.pk, after_lease)
    assert [(t.from_state, t.to_state, t.value) for t in written] == [("normal", "firing", 1.0)]
    # The stalled worker wakes up and tries to commit its evaluation: its claim is gone.
    assert scheduler.policy_evaluate(stalled, NOW + timedelta(seconds=5)) is None
    assert Transition.objects.filter(policy=policy).count() == 1


def test_the_next_slot_skips_missed_slots_instead_of_replaying_them():
    slot = BASE
    assert scheduler.next_slot(slot, 60, slot) == slot + timedelta(seconds=60)
    assert scheduler.next_slot(slot, 60, slot + timedelta(seconds=601)) == slot + timedelta(seconds=660)


def test_a_policy_is_not_evaluated_twice_in_one_slot(db, org_a):
    policy = make_policy(org_a.project, "log_count", {"query": "level>=error"}, threshold=0)
    Policy.objects.filter(pk=policy.pk).update(next_due_at=NOW)
    assert scheduler.evaluate_due(policy.pk, NOW) is not None
    assert scheduler.evaluate_due(policy.pk, NOW + timedelta(seconds=59)) is None
    assert scheduler.evaluate_due(policy.pk, NOW + timedelta(seconds=60)) is not None


def test_disabled_policies_are_never_due(db, org_a):
    policy = make_policy(org_a.project, "log_count", {"query": ""}, enabled=False)
    assert scheduler.due_policy_ids(NOW + timedelta(days=1)) == []
    assert scheduler.evaluate_due(policy.pk, NOW + timedelta(days=1)) is None


def room_for_many_policies(organization):
    """More policies in one project than the free plan allows (apps.billing.limits)."""
    from apps.billing.models import Plan
    from apps.billing.services import subscription_change

    plan, _ = Plan.objects.get_or_create(
        slug="many-policies",
        defaults={"name": "Many policies", "events_per_month": 10**9, "overage": "allow"},
    )
    subscription_change(organization, plan)


def test_the_tick_enqueues_one_batch_task_per_fifty_due_policies_on_the_broker(db, org_a, settings):
    import redis

    room_for_many_policies(org_a.organization)
    for n in range(51):
        make_policy(org_a.project, "log_count", {"query": ""}, name=f"p{n}")
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")
    try:
        assert tick() == 2
        bodies = [b.decode() for b in broker.lrange("celery", 0, -1)]
        assert len(bodies) == 2 and all("apps.alerts.tasks.evaluate_due_policies" in b for b in bodies)
    finally:
        broker.delete("celery")
        broker.close()


def queued_batches(broker) -> list[datetime]:
    """The batch tasks on the broker, in queue order: when each is to run (its ETA, else now)."""
    times = []
    for body in reversed(broker.lrange("celery", 0, -1)):  # LPUSHed: the oldest is last
        headers = json.loads(body)["headers"]
        assert headers["task"] == "apps.alerts.tasks.evaluate_due_policies"
        times.append(datetime.fromisoformat(headers["eta"]) if headers["eta"] else NOW)
    return times


def test_the_tick_plans_batches_that_run_when_fifty_slots_are_due_or_a_second_after_the_first(
    db, org_a, settings
):
    import redis

    room_for_many_policies(org_a.organization)
    seconds = [-30, -3, *(2 + i / 100 for i in range(60)), 5, 5.5, 7, 11]
    slots = {}
    for n, offset in enumerate(seconds):
        policy = make_policy(org_a.project, "log_count", {"query": ""}, name=f"p{n}")
        slots[policy.pk] = NOW + timedelta(seconds=offset)
        Policy.objects.filter(pk=policy.pk).update(next_due_at=slots[policy.pk])
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")
    try:
        with time_machine.travel(NOW, tick=False):
            assert tick() == 5
        runs = queued_batches(broker)
    finally:
        broker.delete("celery")
        broker.close()
    # The overdue slots at once, together; 60 slots due within 0.6 s in two batches, the first
    # when its 50th slot is due; sparse slots wait at most a second for company; the slot after
    # the next tick is the next tick's.
    assert [(at - NOW).total_seconds() for at in runs] == [0, 2.49, 2.59, 5.5, 7]

    # A worker runs each task when it is due: every slot is evaluated once, never before it is
    # due (its window would end in the future), and at most a second after.
    sizes = []
    for at in runs:
        with time_machine.travel(at, tick=False):
            sizes.append(scheduler.evaluate_batch())
    assert sizes == [2, 50, 10, 2, 1]
    evaluated = dict(
        Policy.objects.filter(last_evaluated_at__isnull=False).values_list("id", "last_evaluated_at")
    )
    assert set(evaluated) == {pk for pk, slot in slots.items() if slot <= NOW + scheduler.TICK}
    for pk, at in evaluated.items():
        assert max(slots[pk], NOW) <= at <= max(slots[pk], NOW) + scheduler.BATCH_WAIT


def test_two_workers_claiming_batches_evaluate_every_due_policy_exactly_once(committed, org_a):
    room_for_many_policies(org_a.organization)
    policies = [
        make_policy(org_a.project, "log_count", {"query": "level>=error"}, name=f"p{i}", threshold=0)
        for i in range(30)
    ]
    Policy.objects.update(next_due_at=NOW)
    with time_machine.travel(NOW, tick=False):
        ingest(org_a.ingest_key, [log(1, NOW)])

        def worker(index: int) -> int:
            done = 0
            while evaluated := scheduler.evaluate_batch(NOW, limit=4):
                done += evaluated
            return done

        evaluated = race(2, worker)

    assert sum(evaluated) == 30
    rows = Transition.objects.filter(policy__in=policies).values_list("policy_id", "to_state")
    assert sorted(rows) == sorted((p.pk, "firing") for p in policies)
    assert scheduler.policies_claim(NOW) == []  # all evaluated, none due until the next slot


def test_a_batch_whose_claim_expired_writes_only_the_slots_it_still_holds(committed, org_a):
    first = make_policy(org_a.project, "log_count", {"query": "level>=error"}, name="a", threshold=0)
    second = make_policy(org_a.project, "log_count", {"query": "level>=error"}, name="b", threshold=0)
    Policy.objects.update(next_due_at=NOW)
    with time_machine.travel(NOW, tick=False):
        ingest(org_a.ingest_key, [log(1, NOW)])
    stalled = scheduler.policies_claim(NOW)
    assert {c.policy_id for c in stalled} == {first.pk, second.pk}
    after_lease = NOW + scheduler.LEASE + timedelta(seconds=1)
    # Another worker takes over one of the two slots after the lease and evaluates it.
    assert scheduler.evaluate_due(first.pk, after_lease) is not None
    results = scheduler.claims_evaluate(stalled, NOW + timedelta(seconds=5))
    assert set(results) == {second.pk}
    assert Transition.objects.filter(policy=first).count() == 1
    assert Transition.objects.filter(policy=second).count() == 1
