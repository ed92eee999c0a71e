import pytest

from apps.audit import Actor
from apps.projects.models import ApiKey
from apps.projects.services import api_key_revoke
from tests.ingestion.conftest import count
from tests.telemetry import post, post_json

PATHS = [
    "/v1/logs",
    "/v1/logs/",
    "/v1/metrics",
    "/v1/metrics/",
    "/v1/traces",
    "/v1/traces/",
    "/api/v1/ingest/logs",
    "/api/v1/ingest/logs/",
    "/api/v1/ingest/metrics",
    "/api/v1/ingest/metrics/",
]


@pytest.mark.parametrize("path", PATHS)
def test_a_post_without_a_key_is_401_and_never_a_redirect(db, path):
    response = post(path, "{}", key=None)
    assert response.status_code == 401


@pytest.mark.parametrize("path", PATHS)
def test_a_read_key_may_not_ingest(org_a, path):
    response = post(path, "[]" if "ingest" in path else "{}", org_a.read_key)
    assert response.status_code == 403


def test_an_unknown_key_is_401_with_the_json_error_shape(db):
    response = post_json("/api/v1/ingest/logs", [{"message": "x"}], "vgl_ingest_" + "A" * 36)
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "unauthenticated", "message": "Unknown or revoked API key.", "details": None}
    }


def test_the_x_api_key_header_is_accepted(org_a):
    response = post_json(
        "/api/v1/ingest/logs", [{"message": "x"}], None, headers={"x-api-key": org_a.ingest_key}
    )
    assert response.status_code == 200
    assert count("logs_event", org_a.project.id) == 1


def test_a_revoked_key_is_refused_on_the_next_request(org_a):
    assert post_json("/api/v1/ingest/logs", [{"message": "x"}], org_a.ingest_key).status_code == 200
    key = ApiKey.objects.get(project=org_a.project, scope="ingest")
    api_key_revoke(key, by=Actor(user=org_a.owner))
    assert post_json("/api/v1/ingest/logs", [{"message": "y"}], org_a.ingest_key).status_code == 401
    assert count("logs_event", org_a.project.id) == 1


def test_get_on_an_ingestion_path_is_405(org_a):
    from django.test import Client

    response = Client().get("/api/v1/ingest/logs", headers={"authorization": f"Bearer {org_a.ingest_key}"})
    assert response.status_code == 405
