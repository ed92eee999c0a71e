"""What a notification says: one Notice (a JSON-able dict, stored on the Delivery), built from the
transitions of one aggregation group, and read by every transport.

Context is the point (issue 17 §7): each alert carries its value against the threshold and for
how long, its labels, links to the incident, the chart and the logs search, the runbook, signed
one-click acknowledge / silence links, and up to 5 matching log lines as stored (already redacted);
for the error-issue kinds, the issue (title, culprit, top frames of its stack, link) instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypedDict
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from apps.alerts.error_kinds import issue_context
from apps.alerts.models import Incident, Kind, Policy, State, Transition
from apps.api.timerange import TimeRange
from apps.logs import selectors as logs
from apps.logs.query import parse
from apps.notifications import links
from apps.notifications.models import Event

MAX_ALERTS_LISTED = 50
CONTEXT_LINES = 5


class AlertItem(TypedDict):
    instance_id: int
    incident_id: int | None
    state: str  # firing / acknowledged / resolved
    labels: dict[str, str]
    value: float | None
    threshold: float | None
    op: str
    since: str
    duration_seconds: int
    links: dict[str, str]


class Notice(TypedDict):
    type: str
    timestamp: str
    title: str
    summary: str
    priority: str
    is_repeat: bool
    organization: dict[str, Any]
    project: dict[str, Any]
    policy: dict[str, Any]
    alerts: list[AlertItem]
    counts: dict[str, int]
    more: int
    links: dict[str, str]
    context: dict[str, Any]


def absolute(path: str) -> str:
    return settings.PUBLIC_URL.rstrip("/") + path


def _state_of(transition: Transition) -> str:
    if transition.to_state == State.ACKNOWLEDGED:
        return "acknowledged"
    if transition.to_state == State.FIRING:
        return "firing"
    return "resolved"


def is_notifiable(transition: Transition) -> bool:
    """Entering firing, being acknowledged, and leaving firing are announced; pending and its
    quiet return are not (nobody was told it was pending)."""
    if transition.to_state == State.ACKNOWLEDGED:
        return True
    if transition.to_state == State.FIRING:
        return transition.from_state != State.FIRING
    return transition.from_state in (State.FIRING, State.ACKNOWLEDGED)


def event_of(transition: Transition) -> str:
    return {"firing": Event.FIRING, "acknowledged": Event.ACKNOWLEDGED}.get(
        _state_of(transition), Event.RESOLVED
    )


def incident_path(project_id: int, incident_id: int | None) -> str:
    """The incident's page (apps.alerts), or the project's Alerts tab for a change without one."""
    if incident_id is None:
        return f"/projects/{project_id}/alerts/"
    return f"/projects/{project_id}/alerts/incidents/{incident_id}/"


def logs_path(policy: Policy, labels: dict[str, str], now: datetime) -> str:
    """The Logs tab with the policy's query over its window: the search that reproduces it."""
    query = str(policy.spec.get("query") or "")
    if "service" in labels and "service:" not in query:
        query = f"{query} service:{labels['service']}".strip()
    start = now - timedelta(seconds=max(policy.window_seconds, 300))
    params = {"q": query, "range": "custom", "start": start.isoformat(), "end": now.isoformat()}
    return f"/projects/{policy.project_id}/logs/?{urlencode(params)}"


def alert_item(transition: Transition, policy: Policy, now: datetime) -> AlertItem:
    incident: Incident | None = transition.incident
    started = incident.opened_at if incident is not None else transition.at
    item_links = {"incident": absolute(incident_path(policy.project_id, transition.incident_id))}
    if incident is not None and incident.resolved_at is None and transition.to_state == State.FIRING:
        item_links["acknowledge"] = absolute(links.action_path(incident.pk, links.ACK))
        item_links["silence_1h"] = absolute(links.action_path(incident.pk, links.SILENCE))
    return {
        "instance_id": transition.instance_id,
        "incident_id": transition.incident_id,
        "state": _state_of(transition),
        "labels": dict(transition.labels),
        "value": transition.value,
        "threshold": transition.threshold,
        "op": policy.op,
        "since": started.isoformat(),
        "duration_seconds": max(0, int((now - started).total_seconds())),
        "links": item_links,
    }


def context_lines(policy: Policy, labels: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    """Up to 5 of the log lines the policy matched, newest first, as stored (redacted at ingest)."""
    if policy.kind not in (Kind.LOG_COUNT, Kind.LOG_RATIO):
        return []
    query = str(policy.spec.get("query") or "")
    if "service" in labels:
        query = f"{query} service:{labels['service']}".strip()
    try:
        node = parse(query)
        window = TimeRange(now - timedelta(seconds=policy.window_seconds), now)
        page = logs.search_logs(policy.project_id, node, window, CONTEXT_LINES)
    except Exception:  # context is a courtesy: a notice goes out without it rather than not at all
        return []
    return [
        {
            "time": record["timestamp"],
            "service": record["service"],
            "level": record["level"],
            "message": record["message"][:500],
        }
        for record in page.records
    ]


def notice_build(
    policy: Policy, transitions: list[Transition], now: datetime | None = None, is_repeat: bool = False
) -> Notice:
    """One message for the changes of one group; firing first, then acknowledged, then resolved."""
    now = now or timezone.now()
    order = {"firing": 0, "acknowledged": 1, "resolved": 2}
    items = sorted((alert_item(t, policy, now) for t in transitions), key=lambda i: order[i["state"]])
    counts = {state: sum(1 for i in items if i["state"] == state) for state in order}
    kind = "firing" if counts["firing"] else "acknowledged" if counts["acknowledged"] else "resolved"
    event = {"firing": Event.FIRING, "acknowledged": Event.ACKNOWLEDGED, "resolved": Event.RESOLVED}[kind]
    project = policy.project
    first = items[0]
    title = f"[{kind.upper()}{':' + str(counts[kind]) if counts[kind] > 1 else ''}] {policy.name}"
    value = "no data" if first["value"] is None else f"{first['value']:g}"
    summary = f"{policy.name}: {value} {policy.op} {policy.threshold:g}"
    if first["labels"]:
        summary += " (" + ", ".join(f"{k}={v}" for k, v in sorted(first["labels"].items())) + ")"
    lines = context_lines(policy, first["labels"], now) if kind == "firing" else []
    # Error-issue kinds: the issue's title, the top frames of its stack and a link to it.
    issue = issue_context(policy, first["labels"]).get("issue")
    if issue is not None:
        issue = {**issue, "url": absolute(issue["path"])}
    return {
        "type": event,
        "timestamp": now.isoformat(),
        "title": title,
        "summary": summary,
        "priority": policy.priority,
        "is_repeat": is_repeat,
        "organization": {"id": project.organization_id, "name": project.organization.name},
        "project": {"id": project.pk, "name": project.name},
        "policy": {
            "id": policy.pk,
            "name": policy.name,
            "kind": policy.kind,
            "priority": policy.priority,
            "runbook_url": policy.runbook_url,
            "description": policy.description,
        },
        "alerts": items[:MAX_ALERTS_LISTED],
        "counts": counts,
        "more": max(0, len(items) - MAX_ALERTS_LISTED),
        "links": {
            "incident": first["links"]["incident"],
            "chart": absolute(f"/projects/{project.pk}/alerts/#policy-{policy.pk}"),
            "logs": absolute(logs_path(policy, first["labels"], now)),
            **({"issue": issue["url"]} if issue else {}),
            **({"runbook": policy.runbook_url} if policy.runbook_url else {}),
        },
        "context": {"lines": lines, **({"issue": issue} if issue else {})},
    }


def test_notice(channel_name: str, organization: Any, now: datetime | None = None) -> Notice:
    now = now or timezone.now()
    return {
        "type": Event.TEST,
        "timestamp": now.isoformat(),
        "title": f"[TEST] Vigil test message for {channel_name}",
        "summary": "This is a test message from Vigil. If you can read it, the channel works.",
        "priority": "P4",
        "is_repeat": False,
        "organization": {"id": organization.pk, "name": organization.name},
        "project": {},
        "policy": {},
        "alerts": [],
        "counts": {},
        "more": 0,
        "links": {"vigil": absolute(f"/orgs/{organization.pk}/")},
        "context": {"lines": []},
    }
