"""Metric API: bad parameters are 400 naming the parameter; other tenants 404; ingest keys 403."""

from __future__ import annotations

import pytest

from tests.metrics.conftest import query
from tests.telemetry import ingest_metrics


@pytest.fixture
def gauge(org_a):
    ingest_metrics(
        org_a.ingest_key, [{"name": "temp", "type": "gauge", "value": 20, "labels": {"room": "a"}}]
    )


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({}, "name", "name is required"),
        ({"name": "temp", "agg": "median"}, "agg", "agg must be one of"),
        ({"name": "temp", "step": "fast"}, "step", "step must be seconds"),
        ({"name": "temp", "step": "0"}, "step", "step must be positive"),
        ({"name": "temp", "step": "1", "start": "-30d"}, "step", "at most 11000 points per series"),
        ({"name": "temp", "start": "yesterday"}, "start", "start must be ISO 8601"),
        ({"name": "temp", "start": "-1h", "end": "-2h"}, "start", "start must be before end"),
        ({"name": "temp", "start": "-500d"}, "start", "at most 400 days"),
        ({"name": "temp", "labels.room": "a"}, "params", "unknown parameter(s): labels.room"),
        ({"name": "temp", "agg": "p95"}, "agg", "agg=p95 is not defined for a gauge metric"),
        ({"name": "temp", "agg": "rate"}, "agg", "agg=rate is not defined for a gauge metric"),
        # Each of these was a 500 (a NUL reached PostgreSQL text, a step overflowed timedelta).
        ({"name": "\x00"}, "name", "name must not contain a NUL character"),
        ({"name": "te\x00mp"}, "name", "name must not contain a NUL character"),
        ({"name": "temp", "label.ro\x00om": "a"}, "label name", "label name must not contain a NUL"),
        ({"name": "temp", "label.room": "a\x00"}, "label.room", "label.room must not contain a NUL"),
        ({"name": "temp", "group_by": "ro\x00om"}, "group_by", "group_by must not contain a NUL"),
        ({"name": "temp", "step": "100000000d"}, "step", "from 1s to 400d"),
        ({"name": "temp", "step": "99999999999999999999"}, "step", "from 1s to 400d"),
        ({"name": "temp", "step": "401d"}, "step", "step must be positive: from 1s to 400d"),
        ({"name": "x" * 256}, "name", "name must be at most 255 characters"),
        ({"name": "temp", "group_by": ",".join(f"l{i}" for i in range(11))}, "group_by", "at most 10"),
        ({"name": "temp", "end": "0001-01-01T00:00:00Z"}, "end", "between 1970-01-01 and 2100-01-01"),
        ({"name": "temp", "start": "9999-12-31T23:00:00-05:00"}, "start", "between 1970-01-01 and"),
    ],
)
def test_bad_parameters_are_a_400_that_names_the_parameter(client, org_a, gauge, params, field, message):
    response = query(client, org_a.project.id, org_a.read_key, **params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert message in str(error["details"][field])


def test_a_viewer_and_a_read_key_read_metrics(bob_client, client, org_a, gauge):
    assert query(bob_client, org_a.project.id, name="temp").status_code == 200
    assert query(client, org_a.project.id, org_a.read_key, name="temp").status_code == 200


def test_another_organization_gets_404_even_with_bad_parameters(mallory_client, client, org_a, org_b, gauge):
    assert query(mallory_client, org_a.project.id, name="temp").status_code == 404
    assert query(mallory_client, org_a.project.id, agg="nonsense").status_code == 404
    assert query(client, org_a.project.id, org_b.read_key, name="temp").status_code == 404
    assert mallory_client.get(f"/api/v1/projects/{org_a.project.id}/metrics").status_code == 404


def test_an_ingest_key_cannot_read_metrics(client, org_a, gauge):
    assert query(client, org_a.project.id, org_a.ingest_key, name="temp").status_code == 403


def test_no_credentials_is_401(client, org_a):
    assert query(client, org_a.project.id, name="temp").status_code == 401


def test_the_metric_list_shows_names_types_units_and_label_keys(client, org_a, org_b):
    ingest_metrics(
        org_a.ingest_key,
        [
            {"name": "temp", "type": "gauge", "value": 20, "unit": "Cel", "labels": {"room": "a"}},
            {
                "name": "temp",
                "type": "gauge",
                "value": 21,
                "unit": "Cel",
                "labels": {"room": "b", "floor": 2},
            },
            {"name": "hits", "type": "counter", "value": 1},
        ],
    )
    ingest_metrics(org_b.ingest_key, [{"name": "secret", "type": "gauge", "value": 1}])
    response = client.get(
        f"/api/v1/projects/{org_a.project.id}/metrics", headers={"authorization": f"Bearer {org_a.read_key}"}
    )
    assert response.status_code == 200
    assert response.json()["metrics"] == [
        {"name": "hits", "type": "sum", "unit": "", "description": "", "series": 1, "label_keys": []},
        {
            "name": "temp",
            "type": "gauge",
            "unit": "Cel",
            "description": "",
            "series": 2,
            "label_keys": ["floor", "room"],
        },
    ]


def test_a_trailing_slash_is_served_not_redirected(client, org_a, gauge):
    response = client.get(
        f"/api/v1/projects/{org_a.project.id}/metrics/query/?name=temp",
        headers={"authorization": f"Bearer {org_a.read_key}"},
    )
    assert response.status_code == 200
