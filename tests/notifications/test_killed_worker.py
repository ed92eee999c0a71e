"""A real sender process killed (SIGKILL) while its message is on the wire: after the lease, the
message is sent again with the same webhook-id, exactly once more, and recorded once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.notifications import dispatch, sender
from apps.notifications.models import Attempt, Delivery, DeliveryState
from tests.ingestion.server import ROOT, database_url
from tests.notifications.conftest import fire, make_channel, make_policy

WORKER = """
import django
django.setup()
from apps.notifications import sender
print("claiming", flush=True)
sender.send_due()
print("recorded", flush=True)  # never reached: the test kills this process mid-send
"""


@pytest.mark.django_db(transaction=True)
def test_a_killed_sender_leaves_the_message_to_be_resent_once_with_the_same_id(org_a, receiver):
    make_channel(org_a.organization, "webhook", {"url": receiver.url}, is_default=True)
    policy = make_policy(org_a.project, priority="P1")
    now = datetime.now(UTC)
    fire(policy, {}, 42.0, now)
    dispatch.transitions_dispatch(now)
    dispatch.groups_flush(now)
    receiver.answer(200, "slow", delay=60)  # the first send hangs until the worker is killed
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "NOTIFY_ALLOW_PRIVATE_ADDRESSES": "true",
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not receiver.requests and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.05)
        assert receiver.requests, "the worker never sent"
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    output = worker.stdout.read() if worker.stdout else ""
    assert "recorded" not in output
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.SENDING and delivery.attempts == 0

    assert sender.send_due() == 0  # the dead worker's lease still holds
    with time_machine.travel(datetime.now(UTC) + sender.LEASE + timedelta(seconds=1), tick=False):
        assert sender.send_due() == 1
        assert sender.send_due() == 0

    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.message_id
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED
    assert Attempt.objects.filter(delivery=delivery).count() == 1
