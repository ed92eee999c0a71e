"""Signed webhooks per the Standard Webhooks spec (standardwebhooks.com).

Headers: `webhook-id` (the delivery's message id: the same on every retry, receivers deduplicate
on it), `webhook-timestamp` (this attempt, seconds), `webhook-signature` (`v1,<base64 HMAC-SHA256
of "{id}.{timestamp}.{body}">`, one per active secret, space-separated, so a receiver that has
not switched to a rotated secret yet still verifies). Body:
`{"type": "alert.firing" | "alert.acknowledged" | "alert.resolved" | "test", "timestamp", "data"}`,
or another app's event (apps.notifications.events, e.g. "usage.threshold") with its own data.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.notifications import outbound
from apps.notifications.messages import Notice
from apps.notifications.models import Channel, Delivery
from apps.notifications.outbound import Answer


def webhook_body(notice: Notice) -> dict[str, Any]:
    if "data" in notice:  # another app's event (apps.notifications.events): its data as is
        event: dict[str, Any] = dict(notice)
        return {"type": event["type"], "timestamp": event["timestamp"], "data": event["data"]}
    first: dict[str, Any] = dict(notice["alerts"][0]) if notice["alerts"] else {}
    return {
        "type": notice["type"],
        "timestamp": notice["timestamp"],
        "data": {
            "title": notice["title"],
            "summary": notice["summary"],
            "priority": notice["priority"],
            "is_repeat": notice["is_repeat"],
            "incident": {"id": first.get("incident_id"), "state": first.get("state")} if first else None,
            "policy": notice["policy"],
            "project": notice["project"],
            "value": first.get("value"),
            "threshold": first.get("threshold"),
            "labels": first.get("labels", {}),
            "links": notice["links"],
            "context": notice["context"],
            "alerts": notice["alerts"],
            "counts": notice["counts"],
        },
    }


def signed_headers(channel: Channel, message_id: str, body: str, now: datetime) -> dict[str, str]:
    at = now.astimezone(UTC)
    signatures = [Webhook(secret).sign(message_id, at, body) for secret in channel.signing_secrets(now)]
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


class WebhookTransport:
    def send(self, channel: Channel, delivery: Delivery) -> Answer:
        body = json.dumps(webhook_body(delivery.payload), separators=(",", ":"), sort_keys=True)
        headers = signed_headers(channel, delivery.message_id, body, timezone.now())
        return outbound.post(channel.config["url"], body.encode(), headers)
