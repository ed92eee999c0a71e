"""The "new issue" notification phase of `make bench-errors`: from an event's arrival to the
webhook that tells of its issue.

What runs, beside the benchmark's web workers: a Celery worker and beat with the app's own
schedule (`start_pipeline`), a webhook channel to a receiver on 127.0.0.1 (bench/receiver.py)
routed a `new_issue` policy on a 5-minute interval (only the grouper's `issues_changed` makes it
due sooner), with group_wait and group_interval 0 on the route so that every new issue is its own
message (grouping as Alertmanager does would otherwise fold the issues of a few minutes into one
notice, and measure the route's settings instead of the pipeline). Then `samples` events, each of
a bug never seen before (its own fingerprint), one every `spacing` seconds; for each, the time
from sending it to the webhook naming its issue. The path: the endpoint stores the event, the web
process's grouper makes the issue and sends `issues_changed`, apps.alerts makes the policy due and
queues its evaluation, a worker evaluates it (firing), the 5-second notifications dispatch files
it, and the send task posts the webhook.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from bench.receiver import WebhookReceiver
from config.devstack import Supervisor, celery_argv, var_dir

SAMPLES = 20
SPACING_SECONDS = 3.0
WAIT_SECONDS = 60.0


def start_pipeline(supervisor: Supervisor) -> None:
    """A Celery worker and beat, as `make run` starts them."""
    env = {"NOTIFY_ALLOW_PRIVATE_ADDRESSES": "true"}  # the receiver is on 127.0.0.1
    supervisor.start("errors-celery-worker", celery_argv("worker", "warning", "--concurrency", "2"), env)
    schedule = str(var_dir() / "bench-errors-beat-schedule")
    supervisor.start("errors-celery-beat", celery_argv("beat", "warning", "-s", schedule), env)


class Receiver:
    """The moment each issue's first firing notice arrived."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.lock = threading.Lock()
        self.webhook = WebhookReceiver(self.record)

    def record(self, headers: Mapping[str, str], raw: bytes) -> None:
        arrived = time.time()
        body = json.loads(raw)
        if body.get("type") != "alert.firing":
            return
        with self.lock:
            for alert in body["data"]["alerts"]:
                issue = alert.get("labels", {}).get("issue")
                if issue:
                    self.arrived.setdefault(int(issue), arrived)


def _setup(project: Any, url: str) -> Any:
    """The policy, channel and route; returns the policy."""
    from django.test.utils import override_settings

    from apps.alerts.services import policy_create
    from apps.notifications.channels import channel_create, route_create

    fields = {
        "name": "new issue",
        "kind": "new_issue",
        "spec": {},
        "op": ">",
        "threshold": 0.0,
        "window_seconds": 300,
        "interval_seconds": 300,
        "priority": "P1",
    }
    policy = policy_create(project, fields, actor=None)
    with override_settings(NOTIFY_ALLOW_PRIVATE_ADDRESSES=True):  # the receiver is on 127.0.0.1
        config = {"name": "bench receiver", "kind": "webhook", "config": {"url": url}}
        channel = channel_create(project.organization, config, None)
    timing = {"group_wait_seconds": 0, "group_interval_seconds": 0}
    route_create(project.organization, {"channel": channel, "policy": policy, **timing}, None)
    return policy


def _wait_evaluated(policy: Any) -> None:
    """Until beat's tick and a worker have run the new policy's first slot: the pipeline is up."""
    from apps.alerts.models import Policy

    first_slot = policy.next_due_at
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if Policy.objects.filter(pk=policy.pk, next_due_at__gt=first_slot).exists():
            return
        time.sleep(0.5)
    raise RuntimeError("the Celery worker and beat did not evaluate the policy within a minute")


def _wait_announced(policy: Any) -> None:
    """Until the first evaluation's notice (every issue of the load phases is new to the policy)
    has gone out: a sample's alert filed with it would be one of its "more" and not be seen."""
    from apps.alerts.models import Transition
    from apps.notifications.models import NoticeGroup

    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        unsent = Transition.objects.filter(policy=policy, notify=True, notified_at__isnull=True).exists()
        pending = NoticeGroup.objects.filter(policy=policy).exclude(pending=[]).exists()
        if not unsent and not pending:
            return
        time.sleep(0.5)
    raise RuntimeError("the first evaluation's notice did not go out within a minute")


def _event(n: int) -> tuple[str, bytes]:
    event_id = uuid.uuid4().hex
    event = {
        "event_id": event_id,
        "platform": "python",
        "level": "error",
        "fingerprint": [f"bench-new-issue-{n}-{event_id}"],
        "exception": {"values": [{"type": "BenchNewIssue", "value": f"never seen before {n}"}]},
    }
    payload = json.dumps(event).encode()
    header = json.dumps({"event_id": event_id}).encode()
    item = json.dumps({"type": "event", "length": len(payload)}).encode()
    return event_id, b"\n".join([header, item, payload]) + b"\n"


def measure(
    http: Any, envelope_url: str, project: Any, samples: int = SAMPLES, spacing: float = SPACING_SECONDS
) -> dict[str, Any]:
    """Send the new bugs and wait for their notices; latencies in seconds, and how many arrived."""
    from apps.errors.models import Event

    receiver = Receiver()
    policy = _setup(project, receiver.webhook.url)
    _wait_evaluated(policy)
    _wait_announced(policy)
    sent: dict[str, float] = {}
    for n in range(samples):
        event_id, body = _event(n)
        started = time.time()
        reply = http.post(envelope_url, content=body)
        if reply.status_code == 200:
            sent[event_id] = started
        time.sleep(spacing)
    deadline = time.monotonic() + WAIT_SECONDS
    issue_of: dict[str, int] = {}
    while time.monotonic() < deadline:
        rows = Event.objects.filter(project=project, event_id__in=list(sent), issue_id__isnull=False)
        issue_of = {row.event_id.hex: row.issue_id for row in rows.only("event_id", "issue_id")}
        with receiver.lock:
            if len(issue_of) == len(sent) and all(i in receiver.arrived for i in issue_of.values()):
                break
        time.sleep(0.5)
    with receiver.lock:
        latencies = sorted(
            receiver.arrived[issue] - sent[event_id]
            for event_id, issue in issue_of.items()
            if issue in receiver.arrived
        )
    return {
        "samples": len(sent),
        "received": len(latencies),
        "p50": statistics.median(latencies) if latencies else None,
        "p95": latencies[max(0, round(0.95 * len(latencies)) - 1)] if latencies else None,
        "max": latencies[-1] if latencies else None,
    }
