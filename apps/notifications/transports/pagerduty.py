"""PagerDuty Events API v2: one event per alert instance change (PagerDuty groups by dedup_key
itself, so these deliveries bypass our aggregation groups).

`dedup_key` is stable per alert instance (`vigil-<org>-<instance>`), so trigger, acknowledge and
resolve of one incident — and every retry of each — land on the same PagerDuty alert. PagerDuty
answers 202 when it accepted the event.
"""

from __future__ import annotations

import json
from typing import Any

from apps.notifications import outbound
from apps.notifications.messages import Notice
from apps.notifications.models import PAGERDUTY_EVENTS_URL, Channel, Delivery, Event
from apps.notifications.outbound import Answer

SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}
ACTION: dict[str, str] = {
    Event.FIRING: "trigger",
    Event.ACKNOWLEDGED: "acknowledge",
    Event.RESOLVED: "resolve",
}
MAX_SUMMARY = 1024


def dedup_key(organization_id: int, instance_id: int) -> str:
    return f"vigil-{organization_id}-{instance_id}"


def pagerduty_event(routing_key: str, notice: Notice, key: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": ACTION.get(notice["type"], "trigger"),
        "dedup_key": key,
    }
    if event["event_action"] != "trigger":
        return event  # acknowledge/resolve carry only the key
    alert: dict[str, Any] = dict(notice["alerts"][0]) if notice["alerts"] else {}
    source = notice["project"].get("name") or "vigil"
    if alert.get("labels", {}).get("service"):
        source = f"{source}/{alert['labels']['service']}"
    event["payload"] = {
        "summary": notice["summary"][:MAX_SUMMARY] or notice["title"][:MAX_SUMMARY],
        "severity": SEVERITY.get(notice["priority"], "warning"),
        "source": source,
        "timestamp": notice["timestamp"],
        "component": notice["policy"].get("name", ""),
        "group": notice["project"].get("name", ""),
        "class": notice["policy"].get("kind", "test"),
        "custom_details": {
            "value": alert.get("value"),
            "threshold": alert.get("threshold"),
            "operator": alert.get("op"),
            "firing_for_seconds": alert.get("duration_seconds"),
            "labels": alert.get("labels", {}),
            "log_lines": notice["context"].get("lines", []),
            **({"issue": notice["context"]["issue"]} if notice["context"].get("issue") else {}),
            "runbook_url": notice["policy"].get("runbook_url", ""),
        },
    }
    event["links"] = [
        {"href": url, "text": name.replace("_", " ").capitalize()}
        for name, url in {**notice["links"], **alert.get("links", {})}.items()
        if url
    ]
    return event


class PagerDutyTransport:
    def send(self, channel: Channel, delivery: Delivery) -> Answer:
        key = delivery.dedup_key or delivery.message_id
        event = pagerduty_event(channel.config["routing_key"], delivery.payload, key)
        url = channel.config.get("events_url") or PAGERDUTY_EVENTS_URL
        return outbound.post(url, json.dumps(event).encode(), {"content-type": "application/json"})
