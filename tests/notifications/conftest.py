"""Real receivers on 127.0.0.1 for notification tests: an HTTP server (Slack, PagerDuty, webhooks)
that answers what a test scripts, and an SMTP server (aiosmtpd). Alert transitions are made by
apps.alerts' own code (incidents.apply_changes), as an evaluation would."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from apps.alerts import incidents
from apps.alerts.evaluation import Change
from apps.alerts.models import AlertInstance, Policy, State, Transition
from apps.alerts.services import policy_create
from apps.notifications import channels
from apps.notifications.models import Channel
from apps.projects.models import Organization, Project


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Script:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Receiver:
    """Records every request; answers from a queue of scripted answers, then 200 (or `default`)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: deque[Script] = deque()
        self.default = Script()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                script = receiver.scripts.popleft() if receiver.scripts else receiver.default
                if script.delay:
                    time.sleep(script.delay)
                try:
                    self.send_response(script.status)
                    for name, value in script.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(script.body)))
                    self.end_headers()
                    self.wfile.write(script.body.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(
        self, status: int, body: str = "", headers: dict[str, str] | None = None, delay: float = 0
    ) -> None:
        self.scripts.append(Script(status, body, headers or {}, delay))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def mailbox(settings):
    box = Mailbox()
    with socket.socket() as probe:  # a free port: the controller checks its server by connecting
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield box
    controller.stop()


@pytest.fixture(autouse=True)
def _local_receivers_allowed(settings):
    """Receivers live on 127.0.0.1; tests of the address rules turn this off again."""
    settings.NOTIFY_ALLOW_PRIVATE_ADDRESSES = True
    settings.PUBLIC_URL = "https://vigil.example.com"


def text_part(message: Message, subtype: str) -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError(f"no text/{subtype} part")


def make_channel(organization: Organization, kind: str, config: dict[str, Any], **fields: Any) -> Channel:
    return channels.channel_create(
        organization, {"name": f"{kind} channel", "kind": kind, "config": config, **fields}, actor=None
    )


def make_policy(project: Project, **fields: Any) -> Policy:
    values: dict[str, Any] = {
        "name": "API errors",
        "kind": "log_count",
        "spec": {"query": "level>=error"},
        "op": ">",
        "threshold": 10.0,
        "priority": "P3",
    }
    return policy_create(project, {**values, **fields}, actor=None)


def fire(policy: Policy, labels: dict[str, str], value: float, now: datetime) -> Transition:
    """The transition an evaluation writes when an instance starts firing."""
    key = json.dumps(labels, sort_keys=True)
    instance, _ = AlertInstance.objects.get_or_create(
        policy=policy, labels_key=key, defaults={"labels": labels}
    )
    change = Change(instance.state, State.FIRING, value, policy.threshold, True, False, "ok")
    (row,) = incidents.apply_changes(policy, instance, [change], now)
    instance.state = State.FIRING
    instance.last_value = value
    instance.save()
    return row


def calm(policy: Policy, labels: dict[str, str], value: float, now: datetime) -> Transition:
    """The transition an evaluation writes when a firing instance resolves."""
    instance = AlertInstance.objects.get(policy=policy, labels_key=json.dumps(labels, sort_keys=True))
    change = Change(State.FIRING, State.RESOLVED, value, policy.threshold, True, False, "ok")
    (row,) = incidents.apply_changes(policy, instance, [change], now)
    instance.state = State.RESOLVED
    instance.save()
    return row
