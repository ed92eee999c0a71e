import json
import time

import pytest

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT, CHILD, GRANDCHILD = "00f067aa0ba902b7", "00f067aa0ba902b8", "00f067aa0ba902b9"


def attrs(**values):
    return [{"key": k, "value": {"stringValue": v}} for k, v in values.items()]


def span(span_id, parent, name, start_ms, end_ms, status=0, trace=TRACE, events=()):
    base = int(time.time() * 1e9) - 60_000_000_000
    return {
        "traceId": trace,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 2,
        "startTimeUnixNano": str(base + start_ms * 1_000_000),
        "endTimeUnixNano": str(base + end_ms * 1_000_000),
        "status": {"code": status, "message": "card declined" if status == 2 else ""},
        "attributes": attrs(route="/pay"),
        "events": list(events),
    }


def send_spans(client, key, spans, service="checkout"):
    body = {
        "resourceSpans": [
            {"resource": {"attributes": attrs(**{"service.name": service})}, "scopeSpans": [{"spans": spans}]}
        ]
    }
    response = client.post(
        "/v1/traces", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code == 200, response.content


@pytest.fixture
def a_trace(client, org_a):
    event = {"timeUnixNano": str(int(time.time() * 1e9)), "name": "retry", "attributes": attrs(attempt="2")}
    send_spans(
        client,
        org_a.ingest_key,
        [
            span(ROOT, "", "POST /pay", 0, 250),
            span(CHILD, ROOT, "charge card", 10, 200, status=2, events=[event]),
            span(GRANDCHILD, CHILD, "SELECT cards", 20, 40),
        ],
    )
    response = client.post(
        "/api/v1/ingest/logs",
        json.dumps(
            [
                {
                    "level": "error",
                    "message": "card declined",
                    "service": "checkout",
                    "trace_id": TRACE,
                    "span_id": CHILD,
                },
            ]
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {org_a.ingest_key}",
    )
    assert response.status_code in (200, 202), response.content


def get(client, org, path, key):
    return client.get(f"/api/v1/projects/{org.project.pk}{path}", HTTP_AUTHORIZATION=f"Bearer {key}")


def test_a_trace_comes_back_as_a_tree_with_durations_status_events_and_its_logs(client, org_a, a_trace):
    response = get(client, org_a, f"/traces/{TRACE}", org_a.read_key)

    assert response.status_code == 200
    trace = response.json()
    assert (trace["span_count"], trace["error_count"], trace["root_name"]) == (3, 1, "POST /pay")
    assert trace["duration_ms"] == pytest.approx(250, abs=0.01)
    [root] = trace["spans"]
    [child] = root["children"]
    [grandchild] = child["children"]
    assert (root["name"], child["name"], grandchild["name"]) == ("POST /pay", "charge card", "SELECT cards")
    assert child["duration_ms"] == pytest.approx(190, abs=0.01)
    assert child["status"] == {"code": 2, "message": "card declined"} and child["is_error"]
    assert child["events"][0]["name"] == "retry"
    assert [log["message"] for log in trace["logs"]] == ["card declined"]
    assert trace["services"] == ["checkout"]


def test_each_log_line_of_a_trace_carries_its_level_name_beside_the_severity(client, org_a, a_trace):
    [log] = get(client, org_a, f"/traces/{TRACE}", org_a.read_key).json()["logs"]
    assert (log["level"], log["level_name"]) == (17, "error")


def test_upper_case_trace_ids_are_accepted(client, org_a, a_trace):
    assert get(client, org_a, f"/traces/{TRACE.upper()}", org_a.read_key).status_code == 200


def test_malformed_and_all_zero_trace_ids_are_400(client, org_a):
    for bad in ("xyz", "0" * 32, TRACE + "00"):
        response = get(client, org_a, f"/traces/{bad}", org_a.read_key)
        assert response.status_code == 400, bad
        assert "trace_id" in response.json()["error"]["details"]


def test_an_unknown_trace_is_404(client, org_a):
    assert get(client, org_a, f"/traces/{'a' * 32}", org_a.read_key).status_code == 404


def test_another_organization_cannot_see_the_trace_even_with_the_same_id(client, org_a, org_b, a_trace):
    assert get(client, org_a, f"/traces/{TRACE}", org_b.read_key).status_code == 404
    assert get(client, org_b, f"/traces/{TRACE}", org_b.read_key).status_code == 404


def test_signed_in_members_of_any_role_can_read_traces(bob_client, org_a, a_trace):
    response = bob_client.get(f"/api/v1/projects/{org_a.project.pk}/traces/{TRACE}")

    assert response.status_code == 200


def test_recent_traces_list_roots_with_duration_and_error_flag(client, org_a, a_trace):
    other = "5bf92f3577b34da6a3ce929d0e0e4736"
    send_spans(
        client, org_a.ingest_key, [span("10f067aa0ba902b7", "", "GET /health", 0, 2, trace=other)], "edge"
    )

    listing = get(client, org_a, "/traces?start=-1h", org_a.read_key).json()["traces"]
    errors = get(client, org_a, "/traces?status=error", org_a.read_key).json()["traces"]
    slow = get(client, org_a, "/traces?min_duration_ms=100", org_a.read_key).json()["traces"]
    by_name = get(client, org_a, "/traces?q=health", org_a.read_key).json()["traces"]

    assert {t["root_name"] for t in listing} == {"POST /pay", "GET /health"}
    assert [t["trace_id"] for t in errors] == [TRACE]
    assert [t["root_name"] for t in slow] == ["POST /pay"]
    assert [(t["root_name"], t["service"], t["has_error"]) for t in by_name] == [
        ("GET /health", "edge", False)
    ]


def test_bad_list_parameters_are_clear_400s(client, org_a):
    for query in ("start=yesterday", "limit=0", "status=broken", "start=-1h&end=-2h", "min_duration_ms=-5"):
        response = get(client, org_a, f"/traces?{query}", org_a.read_key)
        assert response.status_code == 400, query
        assert response.json()["error"]["details"]
