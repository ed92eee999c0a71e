"""`quota.admit_records`: check + meter N records of any signal for a project, for ingestion paths
outside apps.ingestion (the Sentry envelope endpoint): the same quota, counters and usage rows."""

import pytest

from apps.billing import quota
from tests.billing.conftest import put_on_plan, redis_client, usage_of

pytestmark = pytest.mark.django_db


def test_records_of_another_signal_share_the_monthly_quota_and_are_counted_by_signal(org_a):
    put_on_plan(org_a.organization, events_per_month=10, overage="block")
    first = quota.admit_records(org_a.project.pk, "errors", 6, {"rate_limit": 2})
    assert (first.keep, first.refused, first.headers()["X-Vigil-Quota-Remaining"]) == (6, False, "4")
    crossing = quota.admit_records(org_a.project.pk, "transactions", 7)
    assert crossing.keep == 7  # the request that crosses the line is accepted whole
    refused = quota.admit_records(org_a.project.pk, "errors", 3)
    assert refused.refused and not refused.refused_by_spike
    assert 1 <= refused.retry_after() <= 3600 and "10 events per month" in refused.message()
    assert usage_of(org_a.organization) == {
        ("errors", "accepted"): 6,
        ("errors", "rate_limit"): 2,
        ("errors", "quota"): 3,
        ("transactions", "accepted"): 7,
    }


def test_a_failed_write_is_released_and_counts_nothing(org_a):
    put_on_plan(org_a.organization, events_per_month=100)
    admission = quota.admit_records(org_a.project.pk, "errors", 4)
    quota.release(admission)
    assert usage_of(org_a.organization) == {}
    assert quota.admit_records(org_a.project.pk, "errors", 1).headers()["X-Vigil-Quota-Remaining"] == "99"


def test_a_release_leaves_no_spike_counter_behind_forever(org_a):
    put_on_plan(org_a.organization, events_per_month=100)  # spike protection not set up: no allowance
    admission = quota.admit_records(org_a.project.pk, "errors", 4)
    sent = quota.spike_keys(org_a.project.pk, admission.minute - admission.minute % 3600)[1]

    quota.release(admission)

    assert redis_client().ttl(sent) in range(1, 7201)  # (-1 would be: kept forever)


@pytest.mark.parametrize("signal", ["", "Errors", "a|b", "errors and more", "x" * 17])
def test_a_signal_name_that_would_break_the_counters_is_refused(org_a, signal):
    with pytest.raises(ValueError, match="Not a signal name"):
        quota.admit_records(org_a.project.pk, signal, 1)
