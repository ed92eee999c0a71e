"""The OpenAPI schema behind /api/docs/: every operation documented on its own, ingestion included."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.api.views import ApiView
from apps.ingestion.endpoint import ROUTES
from apps.ingestion.schema import DESCRIPTIONS

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def schema() -> dict:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict) -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_the_ingestion_endpoints_are_documented_with_their_bodies_and_answers(schema):
    found = operations(schema)

    for path in ("/v1/logs", "/v1/metrics", "/v1/traces", "/api/v1/ingest/logs", "/api/v1/ingest/metrics"):
        operation = found["POST", path]
        assert operation["security"] == [{"ApiKey": []}]
        assert {"200", "401", "413", "429"} <= set(operation["responses"])
    native = found["POST", "/api/v1/ingest/logs"]["requestBody"]["content"]["application/json"]["schema"]
    assert native["items"] == {"$ref": "#/components/schemas/IngestLogRecord"}
    assert "application/x-protobuf" in found["POST", "/v1/traces"]["requestBody"]["content"]


def test_every_ingestion_route_has_its_own_description():
    assert {route.name.removesuffix("-slash") for route in ROUTES.values()} == set(DESCRIPTIONS)


def test_each_operation_has_its_own_description_not_the_base_class_docstring(schema):
    found = operations(schema)
    descriptions = [operation.get("description", "") for operation in found.values()]

    assert len(found) >= 30
    assert all(descriptions), [key for key, operation in found.items() if not operation.get("description")]
    assert not any(ApiView.__doc__ in description for description in descriptions)
    assert len(set(descriptions)) == len(descriptions)
