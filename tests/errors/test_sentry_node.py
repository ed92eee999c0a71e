"""The real `@sentry/node` SDK (installed with npm into a gitignored node_modules, by
`make test-deps` or here) against a real Vigil server: an event over 32 KiB goes gzipped and
chunked without Content-Length, a small one chunked and uncompressed — both are stored."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from apps.errors.dsn import dsn_of
from apps.errors.models import Event, Issue
from tests.errors.conftest import wait_until
from tests.errors.test_sentry_sdk import events_grouped

pytestmark = pytest.mark.django_db(transaction=True)


def test_sentry_node_sends_a_large_gzipped_and_a_small_plain_event_chunked(
    sentry_node, vigil_server, dsn_key, org_a
):
    run_id = uuid.uuid4().hex[:8]
    done = subprocess.run(
        ["node", str(sentry_node), dsn_of(dsn_key, vigil_server.url), run_id],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    sent = json.loads(done.stdout)

    large, small = sent["requests"]
    assert (large["status"], large["contentEncoding"], large["contentLength"], large["chunked"]) == (
        200,
        "gzip",
        None,
        True,
    )
    assert (small["status"], small["contentEncoding"], small["contentLength"], small["chunked"]) == (
        200,
        None,
        None,
        True,
    )
    assert sent["flushed"] is True

    wait_until(lambda: events_grouped(org_a.project) == 2)
    issues = {i.title: i for i in Issue.objects.filter(project=org_a.project)}
    assert set(issues) == {f"TypeError: cart {run_id} is empty", f"small message {run_id}"}
    crash = Event.objects.get(event_id=uuid.UUID(sent["ids"]["large"]))
    assert crash.release == "shop-node@2.0.0" and crash.platform == "node"
    assert len(crash.data["extra"]["cart_dump"]) == 40 * 1024  # the whole gzipped body was read
    frames = crash.data["exception"]["values"][-1]["stacktrace"]["frames"]
    assert frames[-1]["function"] == "checkout"
    message = Event.objects.get(event_id=uuid.UUID(sent["ids"]["small"]))
    assert (message.level, message.issue.title) == ("warning", f"small message {run_id}")
