"""A key revoked by another process is refused on this process's very next request, on every
ingestion path, although the check of the revocation epoch rides in the admission's Redis round
trip instead of a GET of its own: the request is answered 401, nothing of it stored or metered."""

import pytest
from django.utils import timezone

from apps.projects import keyformat
from apps.projects.authentication import publish_revocation
from apps.projects.models import ApiKey
from tests.billing.conftest import fresh_meter, usage_of  # noqa: F401
from tests.ingestion import messages
from tests.ingestion.conftest import count
from tests.ingestion.test_prom_write import basic, now_ms, post_write, write_request
from tests.telemetry import post, post_json

pytestmark = pytest.mark.usefixtures("fresh_meter")


def revoke_elsewhere(secret: str) -> None:
    """What a revocation in another process leaves this one: the row and Redis' epoch changed,
    this process's key cache did not (api_key_revoke would clear it here too)."""
    ApiKey.objects.filter(prefix=keyformat.public_prefix(secret)).update(revoked_at=timezone.now())
    publish_revocation()


def native(key: str, message: str = "x"):
    return post_json("/api/v1/ingest/logs", [{"message": message}], key)


def otlp(key: str, message: str = "x"):
    body = messages.logs_request(messages.log_record(message)).SerializeToString()
    return post("/v1/logs", body, key, content_type="application/x-protobuf")


def prom(key: str, message: str = "x"):
    return post_write(write_request([({"__name__": "up", "job": message}, [(1.0, now_ms())])]), basic(key))


@pytest.mark.parametrize(
    ("send", "table"), [(native, "logs_event"), (otlp, "logs_event"), (prom, "metrics_point")]
)
def test_a_key_revoked_in_another_process_is_refused_on_the_next_request(org_a, send, table):
    assert send(org_a.ingest_key, "first").status_code in (200, 204)  # the key is cached now
    metered = usage_of(org_a.organization)

    assert send(org_a.ingest_key, "second").status_code in (200, 204)

    revoke_elsewhere(org_a.ingest_key)
    response = send(org_a.ingest_key, "third")
    assert response.status_code == 401
    assert "X-Vigil-Quota-Limit" not in response.headers
    assert count(table, org_a.project.id) == 2
    assert usage_of(org_a.organization) == {key: 2 * n for key, n in metered.items()}


def test_a_key_revoked_elsewhere_is_refused_before_any_other_refusal(org_a):
    assert native(org_a.ingest_key).status_code == 200
    revoke_elsewhere(org_a.ingest_key)

    wrong_type = post("/api/v1/ingest/logs", "[]", org_a.ingest_key, content_type="text/plain")
    empty = post_json("/api/v1/ingest/logs", [], org_a.ingest_key)
    invalid = post_json("/api/v1/ingest/logs", [42], org_a.ingest_key)

    assert [r.status_code for r in (wrong_type, empty, invalid)] == [401, 401, 401]
    assert usage_of(org_a.organization) == {("logs", "accepted"): 1}


def test_other_keys_go_on_being_admitted_after_a_revocation_elsewhere(org_a, org_b):
    assert native(org_a.ingest_key).status_code == 200
    assert native(org_b.ingest_key).status_code == 200
    revoke_elsewhere(org_a.ingest_key)

    assert native(org_b.ingest_key).status_code == 200
    assert native(org_b.ingest_key).status_code == 200
    assert count("logs_event", org_b.project.id) == 3
    assert usage_of(org_b.organization) == {("logs", "accepted"): 3}


def test_with_redis_down_a_cached_key_still_ingests_and_is_counted_from_the_write_path(org_a, settings):
    assert native(org_a.ingest_key).status_code == 200
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    assert native(org_a.ingest_key, "while redis is down").status_code == 200
    assert count("logs_event", org_a.project.id) == 2
