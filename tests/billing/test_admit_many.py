"""`quota.admit_many`: a group-commit writer's batch of requests admitted in one Redis call, each
decided and counted exactly as if `admit` had been called for it alone, in the batch's order."""

import random
from datetime import UTC, datetime

import pytest
import time_machine

from apps.billing import quota, state
from apps.billing.quota import AdmitRequest
from tests.billing.conftest import put_on_plan, redis_client, usage_of
from tests.billing.test_metering import DEAD_REDIS

pytestmark = pytest.mark.django_db


def period_counter(organization) -> int:
    key = quota.counter_key(organization.pk, datetime.now(UTC).strftime("%Y%m"))
    return int(redis_client().get(key) or 0)


def requests_of(tenant, sizes, **fields):
    org, project = tenant.organization.pk, tenant.project.pk
    return [AdmitRequest(org, project, "error", n, **fields) for n in sizes]


def test_a_batch_past_a_small_quota_keeps_exactly_the_quota_and_refuses_the_rest(org_a):
    put_on_plan(org_a.organization, events_per_month=5, overage="block")

    admissions = quota.admit_many(requests_of(org_a, [1] * 12))

    assert [a.keep for a in admissions] == [1] * 5 + [0] * 7
    assert [a.refused for a in admissions] == [False] * 5 + [True] * 7
    assert period_counter(org_a.organization) == 5
    assert usage_of(org_a.organization) == {("error", "accepted"): 5, ("error", "quota"): 7}


def test_only_the_request_of_a_batch_that_crosses_the_quota_is_accepted_past_it(org_a):
    put_on_plan(org_a.organization, events_per_month=5, overage="block")

    admissions = quota.admit_many(requests_of(org_a, [2, 2, 2, 2]))

    assert [a.keep for a in admissions] == [2, 2, 2, 0]
    assert [a.used for a in admissions] == [2, 4, 6, 6]
    assert usage_of(org_a.organization) == {("error", "accepted"): 6, ("error", "quota"): 2}


def test_a_batch_is_decided_and_counted_as_the_same_requests_one_by_one(org_a, org_b, settings):
    settings.INGEST_RATE_PER_SECOND = 0.001  # no refill within the test: the bucket's burst is all
    settings.INGEST_RATE_BURST = 8
    for tenant in (org_a, org_b):
        put_on_plan(tenant.organization, events_per_month=5, overage="block")
    sizes = [1, 3, 2, 4, 1]  # the 2 crosses the quota, the 4 outruns the bucket, the 1 is refused
    drops = {"invalid": 1}

    batch = quota.admit_many(
        [*requests_of(org_a, sizes, key_id="batch"), *requests_of(org_a, [2], drops=drops)]
    )
    one_by_one = [
        quota.admit(org_b.organization.pk, org_b.project.pk, "error", n, key_id="alone") for n in sizes
    ] + [quota.admit(org_b.organization.pk, org_b.project.pk, "error", 2, drops)]

    def decided(admissions):
        return [(a.keep, a.dropped, a.used, a.rate_limited_for > 0) for a in admissions]

    assert decided(batch) == decided(one_by_one)
    assert any(a.rate_limited_for for a in batch) and any(a.refused for a in batch)
    assert usage_of(org_a.organization) == usage_of(org_b.organization)


def test_a_missing_period_counter_is_seeded_from_postgresql_for_the_whole_batch(org_a):
    put_on_plan(org_a.organization, events_per_month=10, overage="block")
    assert quota.admit_many(requests_of(org_a, [8]))[0].keep == 8
    usage_of(org_a.organization)  # flushed to PostgreSQL
    redis_client().delete(quota.counter_key(org_a.organization.pk, datetime.now(UTC).strftime("%Y%m")))

    admissions = quota.admit_many(requests_of(org_a, [1] * 4))

    assert [a.keep for a in admissions] == [1, 1, 0, 0]
    assert period_counter(org_a.organization) == 10
    assert usage_of(org_a.organization) == {("error", "accepted"): 10, ("error", "quota"): 2}


def test_with_redis_down_a_batch_is_admitted_unmetered_for_the_write_path_to_count(org_a, settings):
    put_on_plan(org_a.organization, events_per_month=1, overage="block")
    settings.REDIS_URL = DEAD_REDIS

    admissions = quota.admit_many(requests_of(org_a, [1, 3]))

    assert [(a.keep, a.metered) for a in admissions] == [(1, False), (3, False)]


def spike_allowance(tenant, records: int) -> None:
    """Spike protection on for the tenant's project this hour: `records` may come in."""
    hour = state.minute_clock()[0] // 3600 * 3600
    redis_client().set(quota.spike_keys(tenant.project.pk, hour)[0], records, ex=7200)


def test_throttling_spike_protection_and_seeding_decide_a_batch_as_the_requests_one_by_one(
    org_a, org_b, settings
):
    settings.INGEST_RATE_PER_SECOND = 0.001  # no refill within the test: the bucket's burst is all
    settings.INGEST_RATE_BURST = 40
    sizes = [3, 5, 2, 6, 4, 7, 1, 5, 3, 6, 2, 4]  # past the quota, past 1.5x, spiked, rate limited
    with time_machine.travel(datetime.now(UTC).replace(minute=10, second=0), tick=False):
        for tenant in (org_a, org_b):
            put_on_plan(tenant.organization, events_per_month=8, overage="throttle")
            spike_allowance(tenant, 30)

        def requests(tenant, key_id):
            org, project = tenant.organization.pk, tenant.project.pk
            return [
                AdmitRequest(org, project, "error" if i % 3 else "attachment", n, {"invalid": i % 2}, key_id)
                for i, n in enumerate(sizes)
            ]

        random.seed(7)  # the throttle's sampling draws, the same for both
        batch = quota.admit_many(requests(org_a, "batch-a"))
        random.seed(7)
        one_by_one = [quota.admit_many([request])[0] for request in requests(org_b, "alone-b")]

    def decided(admissions):
        return [(a.keep, a.dropped, a.spiked, a.used, a.rate_limited_for > 0) for a in admissions]

    assert decided(batch) == decided(one_by_one)
    outcomes = usage_of(org_a.organization)
    assert {outcome for _, outcome in outcomes} == {"accepted", "quota", "spike", "rate_limit", "invalid"}
    assert outcomes == usage_of(org_b.organization)


def redis_commands() -> dict[str, int]:
    stats = redis_client().info("commandstats")
    return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}


def test_a_batch_of_one_key_reads_and_writes_each_redis_key_once(org_a):
    put_on_plan(org_a.organization, events_per_month=1000, overage="block")
    spike_allowance(org_a, 1000)
    quota.admit_many(requests_of(org_a, [1]))  # the period counter seeded
    redis_client().config_resetstat()

    admissions = quota.admit_many(requests_of(org_a, [1] * 32, key_id="one-key"))

    assert [a.keep for a in admissions] == [1] * 32
    assert [a.used for a in admissions] == list(range(2, 34))
    calls = redis_commands()
    # The counter, the bucket, the spike allowance and what was sent: read once, written once.
    assert (calls.get("get", 0), calls["mget"], calls["hmget"]) == (0, 1, 1)
    assert (calls["hset"], calls["pexpire"]) == (1, 1)
    assert (calls["set"], calls.get("incrby", 0), calls["hincrby"]) == (2, 0, 1)
    assert period_counter(org_a.organization) == 33
    assert usage_of(org_a.organization) == {("error", "accepted"): 33}


def test_a_watched_key_that_moved_admits_and_counts_nothing(org_a):
    put_on_plan(org_a.organization, events_per_month=10, overage="block")
    redis_client().set("test:watched", "2")

    with pytest.raises(quota.WatchMoved) as moved:
        quota.admit(
            org_a.organization.pk, org_a.project.pk, "error", 3, {"invalid": 1}, "w", ("test:watched", b"1")
        )

    assert moved.value.value == b"2"
    assert period_counter(org_a.organization) == 0
    assert usage_of(org_a.organization) == {}
    assert not redis_client().exists("vigil:ingest:bucket:w")
    admission = quota.admit(
        org_a.organization.pk, org_a.project.pk, "error", 3, None, "w", ("test:watched", b"2")
    )
    assert admission.keep == 3


def test_a_watched_key_expected_missing_must_be_missing(org_a):
    put_on_plan(org_a.organization, events_per_month=10, overage="block")
    redis_client().delete("test:watched")
    watch = ("test:watched", None)
    assert quota.admit(org_a.organization.pk, org_a.project.pk, "error", 1, watch=watch).keep == 1

    redis_client().set("test:watched", "1")

    with pytest.raises(quota.WatchMoved) as moved:
        quota.admit(org_a.organization.pk, org_a.project.pk, "error", 1, watch=watch)
    assert moved.value.value == b"1"
