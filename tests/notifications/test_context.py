"""The whole path on real data: logs ingested through the endpoint, the policy evaluated by the
alerts scheduler, the transition dispatched and sent — and the message carries its context."""

from __future__ import annotations

import time_machine

from apps.notifications import dispatch, sender
from tests.alerts.conftest import BASE, _fresh_process_caches, evaluate, log  # noqa: F401
from tests.alerts.conftest import make_policy as make_alert_policy
from tests.notifications.conftest import make_channel
from tests.telemetry import ingest_logs as ingest

NOW = BASE


def test_a_log_alert_carries_value_threshold_labels_links_and_the_matching_lines(org_a, receiver):
    make_channel(org_a.organization, "webhook", {"url": receiver.url}, is_default=True)
    policy = make_alert_policy(
        org_a.project,
        "log_count",
        {"query": "level>=error", "group_by": "service"},
        threshold=2,
        priority="P1",
        runbook_url="https://runbooks.example.com/checkout",
    )
    with time_machine.travel(NOW, tick=False):
        ingest(
            org_a.ingest_key,
            [
                log(1 + n / 10, NOW, message=f"payment failed #{n}", service="checkout", password="hunter2")
                for n in range(7)
            ]
            + [log(1, NOW, message="all good", level="info", service="checkout")],
        )
        assert evaluate(policy, NOW)[0][:2] == ("normal", "firing")
        dispatch.transitions_dispatch(NOW)
        dispatch.groups_flush(NOW)
        sender.send_due(now=NOW)

    data = receiver.requests[0].json()["data"]
    assert (data["value"], data["threshold"], data["labels"]) == (7.0, 2.0, {"service": "checkout"})
    lines = data["context"]["lines"]
    assert [line["message"] for line in lines] == [f"payment failed #{n}" for n in range(5)]
    assert {line["service"] for line in lines} == {"checkout"}
    assert "hunter2" not in receiver.requests[0].body.decode()
    assert data["links"]["runbook"] == "https://runbooks.example.com/checkout"
    assert data["links"]["logs"].startswith("https://vigil.example.com/projects/")
    assert "service%3Acheckout" in data["links"]["logs"]
    assert data["alerts"][0]["links"]["acknowledge"].startswith("https://vigil.example.com/notify/action/")
    assert data["alerts"][0]["duration_seconds"] == 0
