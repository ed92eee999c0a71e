"""Error bodies of the read, management and page-data APIs, byte for byte.

One exception-to-response mapping (apps.api.errors) serves all of them; clients parse these exact
shapes and statuses, so moving that plumbing must not change a byte.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import client_for

FORMAT = b"ISO 8601 (2026-01-31T12:00:00Z), Unix seconds, 'now' or relative (-15m, -24h, -7d)."
READ_API = [
    (
        "/api/v1/projects/{p}/logs?q=level%3E%3D",
        400,
        b'{"error":{"code":"bad_request","message":"Query syntax error at position 7: expected a value'
        b' after \'level>=\'.","details":{"position":7,"expected":"a value after \'level>=\'"}}}',
    ),
    (
        "/api/v1/projects/{p}/logs?start=yesterday",
        400,
        b'{"error":{"code":"bad_request","message":"start must be '
        + FORMAT
        + b'","details":{"parameter":"start"}}}',
    ),
    (
        "/api/v1/projects/{p}/logs/patterns?order=old",
        400,
        b'{"error":{"code":"bad_request","message":"order must be count or new.",'
        b'"details":{"parameter":"order"}}}',
    ),
    (
        "/api/v1/projects/{p}/logs/stats?start=-1h&end=-2h",
        400,
        b'{"error":{"code":"bad_request","message":"start must be before end.",'
        b'"details":{"parameter":"start"}}}',
    ),
    (
        "/api/v1/projects/{p}/traces?start=yesterday",
        400,
        b'{"error":{"code":"bad_request","message":"Invalid input.","details":{"start":"start must be '
        + FORMAT
        + b'"}}}',
    ),
    (
        "/api/v1/projects/{p}/traces?limit=0",
        400,
        b'{"error":{"code":"bad_request","message":"Invalid input.",'
        b'"details":{"limit":["Ensure this value is greater than or equal to 1."]}}}',
    ),
    (
        "/api/v1/projects/{p}/traces/xyz",
        400,
        b'{"error":{"code":"bad_request","message":"Invalid input.",'
        b'"details":{"trace_id":"A trace id is 32 hexadecimal characters, not all zero."}}}',
    ),
    (
        "/api/v1/projects/{p}/traces/4bf92f3577b34da6a3ce929d0e0e4736",
        404,
        b'{"error":{"code":"not_found","message":"No spans or logs with this trace id in this project.",'
        b'"details":null}}',
    ),
    (
        "/api/v1/projects/{p}/metrics/query",
        400,
        b'{"error":{"code":"bad_request","message":"Invalid input.",'
        b'"details":{"name":"name is required (the metric name)"}}}',
    ),
    (
        "/api/v1/projects/999999/logs",
        404,
        b'{"error":{"code":"not_found","message":"Not found.","details":null}}',
    ),
]


@pytest.mark.parametrize(("path", "status", "body"), READ_API)
def test_read_api_errors_keep_their_bytes(client, org_a, path, status, body):
    url = path.format(p=org_a.project.pk)
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {org_a.read_key}")
    assert (response.status_code, response.content) == (status, body)


def test_keys_and_their_absence_keep_their_bytes(client, org_a):
    url = f"/api/v1/projects/{org_a.project.pk}/logs"
    missing = client.get(url)
    assert (missing.status_code, missing.content) == (
        401,
        b'{"error":{"code":"unauthenticated","message":"Authentication credentials were not provided.",'
        b'"details":null}}',
    )
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="vigil"'
    ingest = client.get(url, HTTP_AUTHORIZATION=f"Bearer {org_a.ingest_key}")
    assert (ingest.status_code, ingest.content) == (
        403,
        b'{"error":{"code":"forbidden","message":"API keys cannot do this.","details":null}}',
    )


def test_refused_management_actions_are_409_and_bad_fields_400(org_a):
    client = client_for(org_a.owner)
    url = f"/api/v1/orgs/{org_a.organization.pk}/projects"
    duplicate = client.post(url, json.dumps({"name": org_a.project.name}), content_type="application/json")
    assert (duplicate.status_code, duplicate.content) == (
        409,
        b'{"error":{"code":"conflict","message":"A project named \xe2\x80\x9cAcme web\xe2\x80\x9d already'
        b' exists in this organization.","details":null}}',
    )
    blank = client.post(url, json.dumps({"name": ""}), content_type="application/json")
    assert (blank.status_code, blank.content) == (
        400,
        b'{"error":{"code":"bad_request","message":"Invalid input.",'
        b'"details":{"name":["This field may not be blank."]}}}',
    )


def test_overview_activity_errors_keep_their_bytes(org_a):
    response = client_for(org_a.owner).get(f"/projects/{org_a.project.pk}/activity/?start=-1h&end=-2h")
    assert (response.status_code, response.content) == (
        400,
        b'{"error": {"code": "bad_request", "message": "start must be before end.",'
        b' "details": {"parameter": "start"}}}',
    )
