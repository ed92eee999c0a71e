"""Transitions are announced on the project's live stream once committed."""

from __future__ import annotations

import asyncio

import pytest
import time_machine
from redis import asyncio as aioredis

from apps.dashboards import live
from tests.alerts.conftest import BASE, evaluate, log, make_policy
from tests.dashboards.live_client import forget_live_state
from tests.telemetry import ingest_logs as ingest

pytestmark = pytest.mark.django_db


def read(project_id: int) -> live.Read:
    from django.conf import settings

    async def go() -> live.Read:
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            return await live.read_after(client, project_id, 0)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_a_firing_transition_is_announced_after_commit(org_a, django_capture_on_commit_callbacks):
    forget_live_state(org_a.project.pk)
    policy = make_policy(org_a.project, "log_count", {"query": "level>=error"}, name="errors", threshold=0)
    with time_machine.travel(BASE, tick=False):
        ingest(org_a.ingest_key, [log(1, BASE)])
        live.drain()
        forget_live_state(org_a.project.pk)
        live.reset()
        with django_capture_on_commit_callbacks(execute=True):
            evaluate(policy, BASE)
        assert live.drain()
    events = [e for e in read(org_a.project.pk).events if e["kind"] == "alerts"]
    assert len(events) == 1
    (transition,) = events[0]["transitions"]
    assert (transition["policy_id"], transition["from"], transition["to"], transition["value"]) == (
        policy.pk,
        "normal",
        "firing",
        1.0,
    )
    assert transition["incident_id"] is not None
