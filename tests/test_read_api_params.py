"""No value of any read API parameter is a 500: each is answered, or refused with a 400 that names
the parameter in the common error shape.

The API endpoints and their parameters come from the OpenAPI schema, so an endpoint or parameter
added later is swept without touching this file; the session-only JSON and CSV endpoints of the
dashboard pages are listed by hand below.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.telemetry import ingest_logs, ingest_metrics

EDGE_VALUES = [
    "",
    " ",
    "\x00",
    "temp\x00",
    "\t\r\n",
    "x" * 5000,
    "0",
    "-0",
    "-1",
    "+1",
    "1_000",
    "١٢٣",  # Arabic-Indic digits: str.isdigit() says yes
    "²",
    "1e400",
    "nan",
    "inf",
    "-inf",
    "99999999999999999999",
    "100000000d",
    "999999999w",
    "-999999w",
    "now-999999w",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:00:00-05:00",
    "0001-01-01T00:30:00+01:00",
    "2026-13-45T99:99:99Z",
    "2026-01-01T00:00:00+99:00",
    "999999999999.999999999",
    "' OR 1=1 --",
    "%",
    "\\",
    "[]",
    "{}",
    "😀",
    "temp",
    "avg",
    "p99",
    "error",
    "new",
    "room",
    "level>=warn",
    "-1h",
    "now",
]
NOT_SURROGATE = st.characters(blacklist_categories=("Cs",))  # not encodable in a URL at all
VALUES = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.text(NOT_SURROGATE, max_size=30),
    st.integers().map(str),
    st.floats().map(str),
    st.builds("{}{}".format, st.integers(-(10**20), 10**20), st.sampled_from(["", "s", "m", "h", "d", "w"])),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
)
# Session-only endpoints of the dashboard pages, not in the OpenAPI schema.
PAGES = [
    ("/projects/{project_id}/activity/", ("start", "end")),
    ("/orgs/{organization_id}/audit/", ("action", "actor", "since", "until", "before")),
    ("/orgs/{organization_id}/audit/export.csv", ("action", "actor", "since", "until")),
]
PATH_VALUES = {"project_id": "project", "organization_id": "organization"}


@cache
def read_endpoints() -> list[tuple[str, tuple[str, ...]]]:
    """(path template, query parameter names) of every GET operation in the OpenAPI schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (path, tuple(p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "query"))
        for path, operations in sorted(schema["paths"].items())
        if "get" in operations
    ]


def parameter_name(name: str, label: str) -> str:
    return f"label.{label}" if name == "label.<name>" else name


def url_for(template: str, tenant: Any, path_value: str) -> str:
    ids = {"project": tenant.project.pk, "organization": tenant.organization.pk}

    def value(match: re.Match[str]) -> str:
        known = PATH_VALUES.get(match.group(1))
        return str(ids[known]) if known else path_value

    return re.sub(r"\{(\w+)\}", value, template)


@pytest.fixture
def telemetry(org_a):
    ingest_metrics(
        org_a.ingest_key, [{"name": "temp", "type": "gauge", "value": 20, "labels": {"room": "a"}}]
    )
    ingest_logs(org_a.ingest_key, [{"message": "timed out", "level": "error", "service": "api"}])


def assert_answered(response: Any) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"], error


def test_the_sweep_covers_the_read_apis_and_their_parameters():
    swept = dict(read_endpoints())
    assert set(swept["/api/v1/projects/{project_id}/metrics/query/"]) >= {"name", "step", "label.<name>"}
    assert set(swept["/api/v1/projects/{project_id}/logs/"]) >= {"q", "start", "end", "limit", "cursor"}
    assert "/api/v1/projects/{project_id}/traces/{trace_id}/" in swept


ENDPOINT_IDS = [path for path, _ in read_endpoints()]


@pytest.mark.parametrize(("template", "names"), read_endpoints(), ids=ENDPOINT_IDS)
def test_every_edge_value_of_every_read_api_parameter_is_answered(org_a, telemetry, template, names):
    client = Client(raise_request_exception=False)
    client.force_login(org_a.owner)
    failures = []
    for name in [*names, "unknown"]:
        for value in EDGE_VALUES:
            for label in ("room", "r\x00m"):
                params = {parameter_name(name, label): value}
                if name != "name":
                    params.setdefault("name", "temp")  # the metric query needs one to get further
                response = client.get(url_for(template, org_a, quote(value, safe="")), params)
                if response.status_code >= 500:
                    failures.append((params, response.status_code))
                else:
                    assert_answered(response)
                if "label" not in name:
                    break  # the label name only varies for label.<name>
    assert failures == []


@pytest.mark.parametrize(("template", "names"), read_endpoints(), ids=ENDPOINT_IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_combination_of_read_api_parameters_is_a_500(
    alice_client, org_a, telemetry, template, names, data
):
    label = data.draw(st.sampled_from(["room", "\x00", "r\x00m", "", "x" * 300]), label="label name")
    chosen = data.draw(st.lists(st.sampled_from([*names, "unknown"]), unique=True), label="parameters")
    params = {parameter_name(name, label): data.draw(VALUES, label=name) for name in chosen}
    path_value = data.draw(st.one_of(st.just("0af7651916cd43dd8448eb211c80319c"), VALUES), label="path")

    response = alice_client.get(url_for(template, org_a, quote(path_value, safe="")), params)

    assert_answered(response)


@pytest.mark.parametrize(("path", "names"), PAGES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_parameter_of_the_pages_json_and_csv_is_a_500(alice_client, org_a, path, names, data):
    params = {name: data.draw(VALUES, label=name) for name in data.draw(st.lists(st.sampled_from(names)))}

    response = alice_client.get(url_for(path, org_a, ""), params)

    assert response.status_code < 500, response.content[:500]


@pytest.mark.parametrize(("path", "names"), PAGES)
def test_every_edge_value_of_the_pages_json_and_csv_is_answered(org_a, path, names):
    client = Client(raise_request_exception=False)
    client.force_login(org_a.owner)
    failures = [
        (name, value, status)
        for name in names
        for value in EDGE_VALUES
        if (status := client.get(url_for(path, org_a, ""), {name: value}).status_code) >= 500
    ]
    assert failures == []


@pytest.mark.parametrize("query", ["name=%FF%FE", "name=temp&step=%C0%80", "name=temp&label.%00=%00"])
def test_bytes_that_are_not_utf8_in_a_query_string_are_no_500(client, org_a, query):
    response = client.get(
        f"/api/v1/projects/{org_a.project.pk}/metrics/query?{query}",
        HTTP_AUTHORIZATION=f"Bearer {org_a.read_key}",
    )

    assert_answered(response)
