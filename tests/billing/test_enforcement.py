"""Quotas enforced at ingestion by the plan's overage rule, with quota headers on every answer."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from apps.billing import quota
from tests.billing.conftest import put_on_plan, redis_client, usage_of
from tests.ingestion.conftest import count
from tests.telemetry import post, post_json

QUOTA_HEADERS = ("X-Vigil-Quota-Limit", "X-Vigil-Quota-Remaining", "X-Vigil-Quota-Reset")
NEXT_MONTH = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())


def logs(n, prefix="r"):
    return [{"message": f"{prefix}{i}"} for i in range(n)]


def otlp_logs(n):
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for i in range(n):
        scope.log_records.add().body.string_value = f"otlp {i}"
    return request.SerializeToString()


def set_used(organization, used):
    """Pretend this much was already accepted this period (the Redis counter)."""
    key = quota.counter_key(organization.pk, datetime.now(UTC).strftime("%Y%m"))
    redis_client().set(key, used)


@pytest.mark.django_db
def test_block_accepts_up_to_the_quota_then_answers_429_with_retry_after_and_names_the_quota(org_a):
    put_on_plan(org_a.organization, events_per_month=10, overage="block")
    first = post_json("/api/v1/ingest/logs", logs(8), org_a.ingest_key)
    assert first.status_code == 200
    assert (first["X-Vigil-Quota-Limit"], first["X-Vigil-Quota-Remaining"]) == ("10", "2")
    assert int(first["X-Vigil-Quota-Reset"]) > time.time()
    # The request that crosses the line is accepted whole; the next one is refused.
    assert post_json("/api/v1/ingest/logs", logs(5), org_a.ingest_key).status_code == 200
    refused = post_json("/api/v1/ingest/logs", logs(3), org_a.ingest_key)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert refused["X-Vigil-Quota-Remaining"] == "0"
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert "Tiny plan (10 events per month)" in error["message"] and "resets at" in error["message"]
    assert error["details"]["limit"] == 10 and error["details"]["quota"] == "events_per_month"
    otlp = post("/v1/logs", otlp_logs(2), org_a.ingest_key, content_type="application/x-protobuf")
    assert otlp.status_code == 429 and "Retry-After" in otlp and otlp["X-Vigil-Quota-Limit"] == "10"
    assert count("logs_event", org_a.project.id) == 13
    assert usage_of(org_a.organization) == {("logs", "accepted"): 13, ("logs", "quota"): 5}


@pytest.mark.django_db
def test_every_answer_to_a_known_key_carries_the_quota_headers(org_a):
    put_on_plan(org_a.organization, events_per_month=1000)
    answers = [
        post_json("/api/v1/ingest/logs", logs(3), org_a.ingest_key),
        post("/api/v1/ingest/logs", b"{not json", org_a.ingest_key),
        post("/api/v1/ingest/logs", b"[]", org_a.ingest_key, content_type="text/plain"),
        post("/v1/logs", otlp_logs(2), org_a.ingest_key, content_type="application/x-protobuf"),
        post("/v1/logs", b"\xff\xff", org_a.ingest_key, content_type="application/x-protobuf"),
    ]
    assert [a.status_code for a in answers] == [200, 400, 415, 200, 400]
    for answer in answers:
        assert all(answer.has_header(name) for name in QUOTA_HEADERS), answer.headers
        assert answer["X-Vigil-Quota-Limit"] == "1000"
    assert answers[3]["X-Vigil-Quota-Remaining"] == "995"


@pytest.mark.django_db
def test_throttle_keeps_a_shrinking_sample_and_reports_the_dropped_share(org_a):
    put_on_plan(org_a.organization, events_per_month=1000, overage="throttle")
    set_used(org_a.organization, 1000)  # at 1x: 10 % dropped
    answer = post_json("/api/v1/ingest/logs", logs(200), org_a.ingest_key).json()
    assert (answer["accepted"], answer["rejected"], answer["dropped"]) == (180, 20, {"quota": 20})
    assert "dropped by quota throttling" in answer["errors"][0]
    set_used(org_a.organization, 1500)  # at 1.5x: half dropped; OTLP reports it as partial success
    otlp = post("/v1/logs", otlp_logs(100), org_a.ingest_key, content_type="application/x-protobuf")
    assert otlp.status_code == 200
    response = ExportLogsServiceResponse.FromString(otlp.content)
    assert response.partial_success.rejected_log_records == 50
    assert "quota" in response.partial_success.error_message
    set_used(org_a.organization, 2000)  # at 2x: nothing more
    assert post_json("/api/v1/ingest/logs", logs(10), org_a.ingest_key).status_code == 429
    assert count("logs_event", org_a.project.id) == 230
    assert usage_of(org_a.organization) == {("logs", "accepted"): 230, ("logs", "quota"): 80}


@pytest.mark.django_db
def test_allow_accepts_and_counts_the_overage_up_to_the_cap(org_a):
    put_on_plan(org_a.organization, events_per_month=10, overage="allow", overage_cap=30)
    for _ in range(3):
        response = post_json("/api/v1/ingest/logs", logs(10), org_a.ingest_key)
        assert response.status_code == 200
    assert response["X-Vigil-Quota-Remaining"] == "0"
    refused = post_json("/api/v1/ingest/logs", logs(1), org_a.ingest_key)
    assert refused.status_code == 429 and "overage cap" in refused.json()["error"]["message"]
    assert usage_of(org_a.organization) == {("logs", "accepted"): 30, ("logs", "quota"): 1}


@pytest.mark.django_db
def test_allow_without_a_cap_never_refuses(org_a):
    put_on_plan(org_a.organization, events_per_month=5, overage="allow")
    set_used(org_a.organization, 10**9)
    assert post_json("/api/v1/ingest/logs", logs(3), org_a.ingest_key).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_eight_clients_past_a_small_quota_at_once_never_get_more_than_one_request_past_it(
    vigil_server, org_a
):
    quota_size, per_request = 500, 40
    put_on_plan(org_a.organization, events_per_month=quota_size, overage="block")

    def client(worker):
        answers = []
        with httpx.Client(timeout=60) as http:
            for batch in range(6):
                answers.append(
                    http.post(
                        f"{vigil_server.url}/api/v1/ingest/logs",
                        content=orjson.dumps(logs(per_request, f"w{worker}b{batch}r")),
                        headers={
                            "authorization": f"Bearer {org_a.ingest_key}",
                            "content-type": "application/json",
                        },
                    )
                )
        return answers

    with ThreadPoolExecutor(8) as pool:
        answers = [answer for answers in pool.map(client, range(8)) for answer in answers]
    accepted = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    stored = count("logs_event", org_a.project.id)
    assert stored == sum(a.json()["accepted"] for a in accepted)
    assert quota_size <= stored <= quota_size + per_request
    assert refused and all(
        a.status_code == 429 and 1 <= int(a.headers["Retry-After"]) <= 3600 for a in refused
    )
    assert usage_of(org_a.organization) == {
        ("logs", "accepted"): stored,
        ("logs", "quota"): len(refused) * per_request,
    }


@pytest.mark.django_db
def test_prometheus_remote_write_is_metered_and_blocked_like_every_transport(org_a):
    from tests.ingestion.test_prom_write import now_ms, post_write, write_request

    put_on_plan(org_a.organization, events_per_month=3, overage="block")
    body = write_request(
        [({"__name__": "up", "job": "a"}, [(1.0, now_ms(2)), (1.0, now_ms(1)), (1.0, now_ms())])]
    )
    accepted = post_write(body, f"Bearer {org_a.ingest_key}")
    assert accepted.status_code == 204 and accepted["X-Vigil-Quota-Remaining"] == "0"
    refused = post_write(body, f"Bearer {org_a.ingest_key}")
    assert refused.status_code == 429 and "Retry-After" in refused
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert usage_of(org_a.organization) == {("metrics", "accepted"): 3, ("metrics", "quota"): 3}
