"""`quota.admit_many`: a group-commit writer's batch of requests admitted in one Redis call, each
decided and counted exactly as if `admit` had been called for it alone, in the batch's order."""

from datetime import UTC, datetime

import pytest

from apps.billing import quota
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
