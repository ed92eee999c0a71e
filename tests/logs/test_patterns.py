"""GET .../logs/patterns: messages grouped by fingerprint."""

from django.test import Client

from tests.logs.conftest import at, logs_url, read
from tests.telemetry import ingest_logs


def patterns(org, **params):
    response = read(Client(), logs_url(org.project.pk, "/patterns"), org.read_key, **params)
    assert response.status_code == 200, response.content
    return response.json()


def test_variable_parts_become_placeholders_and_group_together(org_a):
    ingest_logs(
        org_a.ingest_key,
        [
            {"timestamp": at(9), "message": "user 42 signed in from 10.0.0.1", "level": "info"},
            {"timestamp": at(8), "message": "user 7 signed in from 192.168.1.20:8443", "level": "info"},
            {
                "timestamp": at(7),
                "message": 'payment 3fa85f64-5717-4562-b3fc-2c963f66afa6 failed: "card declined"',
                "level": "error",
            },
            {
                "timestamp": at(6),
                "message": 'payment 9b2e1c55-0000-4000-8000-000000000001 failed: "expired"',
                "level": "error",
            },
            {"timestamp": at(5), "message": "job deadbeef01 took 0x1F ms", "level": "debug"},
            {"timestamp": at(4), "message": "job 4a5b6c7d8e took 0xFF ms", "level": "warn"},
        ],
    )
    body = patterns(org_a)
    by_fingerprint = {p["fingerprint"]: p for p in body["patterns"]}
    assert set(by_fingerprint) == {
        "user <num> signed in from <ip>",
        'payment <uuid> failed: "<str>"',
        "job <hex> took <hex> ms",
    }
    payments = by_fingerprint['payment <uuid> failed: "<str>"']
    assert payments["count"] == 2 and payments["level"] == "error"
    assert payments["first_seen"] < payments["last_seen"]
    assert payments["example"] == 'payment 9b2e1c55-0000-4000-8000-000000000001 failed: "expired"'  # newest
    assert by_fingerprint["job <hex> took <hex> ms"]["level"] == "warn"  # the highest level seen
    assert body["scanned"] == 6 and body["truncated"] is False


def test_patterns_follow_the_query_and_can_be_ordered_by_novelty(org_a):
    ingest_logs(
        org_a.ingest_key,
        [
            {"timestamp": at(30), "message": "cache miss 1", "level": "info"},
            {"timestamp": at(20), "message": "cache miss 2", "level": "info"},
            {"timestamp": at(10), "message": "disk full on node 3", "level": "error"},
        ],
    )
    assert [p["fingerprint"] for p in patterns(org_a, q="level:error")["patterns"]] == [
        "disk full on node <num>"
    ]
    newest_first = [p["fingerprint"] for p in patterns(org_a, order="new")["patterns"]]
    assert newest_first == ["disk full on node <num>", "cache miss <num>"]
    assert patterns(org_a, sample="2")["truncated"] is True
    response = read(Client(), logs_url(org_a.project.pk, "/patterns"), org_a.read_key, order="oldest")
    assert response.status_code == 400
