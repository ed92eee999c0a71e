"""Slack incoming webhooks: a Block Kit message (header, fields, context lines, URL buttons) with a
plain `text` fallback for notifications and clients that do not render blocks.

Slack's mrkdwn treats `&`, `<` and `>` as markup; every value we did not write is escaped, so an
alert label cannot forge a link or a mention.
"""

from __future__ import annotations

import json
from typing import Any

from apps.notifications import outbound
from apps.notifications.messages import Notice
from apps.notifications.models import Channel, Delivery
from apps.notifications.outbound import Answer

MAX_FIELDS = 10  # Slack's limit per section
MAX_TEXT = 3000


def escape(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fields(notice: Notice) -> list[dict[str, str]]:
    fields = [{"type": "mrkdwn", "text": f"*Priority*\n{escape(notice['priority'])}"}]
    if notice["project"]:
        fields.append({"type": "mrkdwn", "text": f"*Project*\n{escape(notice['project']['name'])}"})
    for alert in notice["alerts"][: MAX_FIELDS - len(fields)]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert["labels"].items())) or "—"
        value = "no data" if alert["value"] is None else f"{alert['value']:g}"
        threshold = "" if alert["threshold"] is None else f" {alert['op']} {alert['threshold']:g}"
        minutes = alert["duration_seconds"] // 60
        fields.append(
            {
                "type": "mrkdwn",
                "text": f"*{escape(alert['state'])}* {escape(labels)}\n{escape(value)}{escape(threshold)}"
                f" · {minutes} min",
            }
        )
    return fields


def _buttons(notice: Notice) -> list[dict[str, Any]]:
    buttons = []
    first_links = notice["alerts"][0]["links"] if notice["alerts"] else {}
    for label, url in (
        ("Open incident", notice["links"].get("incident")),
        ("Acknowledge", first_links.get("acknowledge")),
        ("Silence 1 h", first_links.get("silence_1h")),
        ("Issue", notice["links"].get("issue")),
        ("Logs", notice["links"].get("logs")),
        ("Runbook", notice["links"].get("runbook")),
    ):
        if url:
            buttons.append({"type": "button", "text": {"type": "plain_text", "text": label}, "url": url})
    return buttons


def slack_message(notice: Notice) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": notice["title"][:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(notice["summary"])[:MAX_TEXT]}},
    ]
    fields = _fields(notice)
    if fields:
        blocks.append({"type": "section", "fields": fields})
    issue = notice["context"].get("issue")
    if issue:
        text = f"*<{issue['url']}|{escape(issue['title'])}>*\n" + "\n".join(
            f"`{escape(frame)}`" for frame in issue["frames"]
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_TEXT]}})
    lines = notice["context"].get("lines") or []
    if lines:
        text = "\n".join(
            f"`{escape(line['time'][11:19])}` {escape(line['service'])}: {escape(line['message'])}"
            for line in lines
        )
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text[:MAX_TEXT]}]})
    if notice["more"]:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {notice['more']} more"}]}
        )
    buttons = _buttons(notice)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons[:5]})
    return {"text": f"{notice['title']} — {notice['summary']}"[:MAX_TEXT], "blocks": blocks}


class SlackTransport:
    def send(self, channel: Channel, delivery: Delivery) -> Answer:
        body = json.dumps(slack_message(delivery.payload)).encode()
        return outbound.post(channel.config["url"], body, {"content-type": "application/json"})
