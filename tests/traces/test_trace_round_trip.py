"""What the stock OpenTelemetry Python SDK sent is what the trace view returns."""

import pytest

from tests.ingestion.test_real_clients import run_client

pytestmark = pytest.mark.django_db(transaction=True)


def test_spans_and_logs_sent_by_the_sdk_come_back_as_one_trace(vigil_server, org_a, client):
    _, sent = run_client("proto", vigil_server.url, f"authorization=Bearer%20{org_a.ingest_key}")
    parent = next(span for span in sent["spans"] if span["parent"] is None)
    child = next(span for span in sent["spans"] if span["parent"] is not None)

    response = client.get(
        f"/api/v1/projects/{org_a.project.pk}/traces/{parent['trace_id']}",
        HTTP_AUTHORIZATION=f"Bearer {org_a.read_key}",
    )

    assert response.status_code == 200
    trace = response.json()
    [root] = trace["spans"]
    [charge] = root["children"]
    assert (root["name"], charge["name"]) == (parent["name"], child["name"])
    assert root["duration_ms"] == pytest.approx((parent["end"] - parent["start"]) / 1e6)
    assert charge["duration_ms"] == pytest.approx((child["end"] - child["start"]) / 1e6)
    assert charge["attributes"]["currency"] == "EUR"
    assert [event["name"] for event in root["events"]] == ["retry"]
    sent_in_trace = sorted(log["message"] for log in sent["logs"] if log["trace_id"] == parent["trace_id"])
    assert sorted(log["message"] for log in trace["logs"]) == sent_in_trace
    assert sent_in_trace  # the SDK really logged inside the spans
