"""Round trips: what the stock OpenTelemetry SDK (through a real server) and the native JSON
endpoint sent is what search, stats and patterns return."""

from datetime import UTC, datetime

import pytest
from django.test import Client

from apps.logs.counts import count_logs
from tests.ingestion.test_real_clients import flags_of, run_client
from tests.logs.conftest import at, logs_url, read
from tests.telemetry import ingest_logs


def search(org, **params):
    response = read(Client(), logs_url(org.project.pk), org.read_key, **params)
    assert response.status_code == 200, response.content
    return response.json()["records"]


@pytest.mark.usefixtures("committed_logs_cleanup")
def test_logs_sent_by_the_otel_sdk_are_found_as_sent(vigil_server, org_a):
    run_id, sent = run_client("proto", vigil_server.url, f"authorization=Bearer%20{org_a.ingest_key}")
    warning = next(log for log in sent["logs"] if log["severity"] == 13)

    found = search(org_a, q=f"resource.run.id:{run_id}")
    assert {r["message"] for r in found} == {log["message"] for log in sent["logs"]}
    [record] = search(org_a, q=f"trace_id:{warning['trace_id']} level:warn")
    assert record["message"] == warning["message"]
    assert record["span_id"] == warning["span_id"] and record["severity"] == 13
    assert record["service"] == "otel-python-proto"
    micros = int(datetime.fromisoformat(record["timestamp"]).timestamp() * 1_000_000)
    assert micros == warning["time"] // 1000
    assert record["attributes"] == {
        **warning["attributes"],
        "otel.scope.name": "shop.checkout",
        **flags_of(warning),
    }
    assert [r["message"] for r in search(org_a, q="attr.order_id:42 declined")] == [warning["message"]]

    count_logs()
    stats = read(Client(), logs_url(org_a.project.pk, "/stats"), org_a.read_key, end="now").json()
    assert stats["total"] == len(sent["logs"]) and stats["levels"]["warn"] == 1
    assert stats["top_services"] == [{"service": "otel-python-proto", "count": len(sent["logs"])}]


def test_native_json_logs_round_trip_through_search_stats_and_patterns(org_a):
    records = [
        {
            "timestamp": at(12 - n),
            "level": ["info", "error"][n % 2],
            "service": "billing",
            "message": f"invoice {1000 + n} sent to customer {n}",
            "attributes": {"amount": n * 10.5},
        }
        for n in range(10)
    ]
    ingest_logs(org_a.ingest_key, records)
    found = search(org_a, q="service:billing attr.amount>=42")
    assert [r["message"] for r in found] == [r["message"] for r in reversed(records[4:])]
    assert [r["attributes"]["amount"] for r in found][-1] == 42.0
    stats = read(Client(), logs_url(org_a.project.pk, "/stats"), org_a.read_key, q="invoice").json()
    assert stats["total"] == 10 and stats["levels"]["error"] == 5 and stats["error_ratio"] == 0.5
    body = read(Client(), logs_url(org_a.project.pk, "/patterns"), org_a.read_key).json()
    assert [(p["fingerprint"], p["count"]) for p in body["patterns"]] == [
        ("invoice <num> sent to customer <num>", 10)
    ]
    assert datetime.fromisoformat(body["patterns"][0]["last_seen"]) <= datetime.now(UTC)
