"""Building and publishing live events in the ingesting process: bounds on what travels, folding,
the Redis stream as the ordered record of events, and skipping (not failing) when Redis is down."""

import asyncio
import time

import orjson
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from redis import asyncio as aioredis

from apps.dashboards import live
from apps.ingestion import native
from apps.ingestion.cleaning import Cleaner
from apps.ingestion.redaction import redactor_for
from tests.dashboards.live_client import forget_live_state
from tests.telemetry import post_json

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def _fresh(org_a):
    forget_live_state(org_a.project.pk)
    live.reset()
    yield
    live.drain()
    live.reset()


def log_rows(project_id: int, records: list[dict]) -> list[tuple]:
    return native.decode_logs(project_id, records, Cleaner(redactor_for(project_id))).logs


def read(project_id: int, after: int = 0, redis_url: str | None = None) -> live.Read:
    from django.conf import settings

    async def go() -> live.Read:
        client = aioredis.Redis.from_url(redis_url or settings.REDIS_URL)
        try:
            return await live.read_after(client, project_id, after)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_an_event_counts_levels_and_carries_bounded_lines(org_a):
    records = [{"message": f"line {n}", "level": "error" if n % 4 == 0 else "info"} for n in range(400)]
    records[3] = {"message": "x" * (live.LINE_MAX_BYTES + 1), "service": "huge"}
    event = live.finish(live.logs_event(log_rows(org_a.project.pk, records), at=1))
    assert event["count"] == 400
    assert event["levels"] == {"error": 100, "info": 299, "unspecified": 1}
    assert len(event["lines"]) == live.LINES_PER_EVENT
    assert event["lines_omitted"] == 400 - live.LINES_PER_EVENT
    assert "x" * 100 not in orjson.dumps(event["lines"]).decode()  # the oversized line stayed behind
    assert event["services"] == ["huge"]


def test_the_byte_budget_of_an_event_holds_across_folded_batches(org_a):
    big = [{"message": "y" * 10_000} for _ in range(10)]
    alone = live.finish(live.logs_event(log_rows(org_a.project.pk, big), at=1))
    assert len(alone["lines"]) == live.LINE_BUDGET // 10_000 and alone["lines_omitted"] == 10 - len(
        alone["lines"]
    )

    first = live.logs_event(log_rows(org_a.project.pk, big), at=1)
    second = live.logs_event(log_rows(org_a.project.pk, big[:2]), at=2)
    folded = live.finish(live.merge(first, second))  # lines are built once, when published
    assert folded["count"] == 12 and folded["at"] == 2
    assert len(folded["lines"]) == len(alone["lines"])
    assert folded["lines_omitted"] == 12 - len(folded["lines"])
    assert "rows" not in folded  # the batches' rows are never published


def test_lines_of_folded_batches_follow_each_other_oldest_first(org_a):
    first = live.logs_event(log_rows(org_a.project.pk, [{"message": "a1"}, {"message": "a2"}]), at=1)
    second = live.logs_event(log_rows(org_a.project.pk, [{"message": "b1"}]), at=2)
    folded = live.finish(live.merge(first, second))
    assert [line["message"] for line in folded["lines"]] == ["a1", "a2", "b1"]
    assert folded["lines_omitted"] == 0


def test_folding_adds_up_totals_and_keeps_lists_short():
    one = {"kind": "spans", "count": 3, "at": 5, "errors": 1, "services": ["a"], "trace_ids": ["t1"]}
    other = {"kind": "spans", "count": 2, "at": 4, "errors": 2, "services": ["b", "a"], "trace_ids": ["t2"]}
    assert live.merge(one, other) == {
        "kind": "spans",
        "count": 5,
        "at": 5,
        "errors": 3,
        "services": ["a", "b"],
        "trace_ids": ["t1", "t2"],
    }
    names = {"kind": "metrics", "count": 1, "at": 1, "names": [f"m{n}" for n in range(live.NAMES_PER_EVENT)]}
    assert len(live.merge(names, {**names, "names": ["new"]})["names"]) == live.NAMES_PER_EVENT


def test_each_commit_is_recorded_in_the_stream_with_consecutive_ids(org_a):
    for n in range(3):
        assert (
            post_json("/api/v1/ingest/logs", [{"message": f"m{n}"}] * (n + 1), org_a.ingest_key).status_code
            == 200
        )
    assert live.drain(5)
    result = read(org_a.project.pk)
    assert [event["id"] for event in result.events] == [str(n + 1) for n in range(len(result.events))]
    assert sum(event["count"] for event in result.events) == 6
    assert result.gap is False and result.cursor == len(result.events)
    again = read(org_a.project.pk, after=result.cursor)
    assert again.events == [] and again.gap is False


def test_a_summary_announcement_tells_a_tail_its_lines_were_not_sent(org_a):
    live.announce(org_a.project.pk, "logs", {"count": 7, "services": ["demo"], "lines": ["ignored"]})
    live.announce(org_a.project.pk, "traces", {"count": 2, "errors": 1})
    assert live.drain(5)
    logs, spans = sorted(read(org_a.project.pk).events, key=lambda event: event["kind"])
    assert logs["count"] == 7 and logs["lines_omitted"] == 7 and "lines" not in logs
    assert logs["services"] == ["demo"]
    assert spans["kind"] == "spans" and spans["errors"] == 1


def lose_the_second_announcement(project_id: int, settings, monkeypatch) -> str:
    """Event 1 published, event 2 dropped with Redis down (left down: REDIS_URL is dead). Returns
    the working URL."""
    monkeypatch.setattr(live, "BREAKER_SECONDS", 0.2)
    live.announce(project_id, "logs", {"count": 1})
    assert live.drain(5)
    good_url = settings.REDIS_URL
    settings.REDIS_URL = DEAD_REDIS
    live.announce(project_id, "logs", {"count": 2})  # lost: Redis is down
    assert live.drain(5)
    return good_url


def test_with_redis_down_events_are_skipped_and_then_a_skipped_id_reveals_the_gap(
    org_a, settings, monkeypatch
):
    settings.REDIS_URL = lose_the_second_announcement(org_a.project.pk, settings, monkeypatch)
    time.sleep(0.3)  # let the breaker close
    live.announce(org_a.project.pk, "logs", {"count": 3})
    assert live.drain(5)
    resumed = read(org_a.project.pk, after=1)
    assert [event["count"] for event in resumed.events] == [3]
    assert resumed.gap is True  # id 2 never existed: the page refetches


def test_a_dropped_announcement_is_revealed_even_if_the_project_sends_nothing_more(
    org_a, settings, monkeypatch
):
    """A quiet project: no later event would skip an id, so the counter is bumped once Redis is back."""
    good_url = lose_the_second_announcement(org_a.project.pk, settings, monkeypatch)
    assert read(org_a.project.pk, after=1, redis_url=good_url).gap is False  # nothing tells yet
    settings.REDIS_URL = good_url
    deadline = time.monotonic() + 5
    while not (resumed := read(org_a.project.pk, after=1)).gap and time.monotonic() < deadline:
        time.sleep(0.05)
    assert resumed.gap is True and resumed.events == []  # the page refetches
    live.announce(org_a.project.pk, "logs", {"count": 3})
    assert live.drain(5)
    later = read(org_a.project.pk, after=resumed.cursor)
    assert [event["count"] for event in later.events] == [3] and later.gap is False  # told once


def test_access_changes_reach_the_users_and_projects_groups(org_a, bob):
    layer = get_channel_layer()

    async def scenario() -> list[dict]:
        by_user, by_project = await layer.new_channel(), await layer.new_channel()
        await layer.group_add(live.user_group_name(bob.pk), by_user)
        await layer.group_add(live.group_name(org_a.project.pk), by_project)
        await asyncio.to_thread(live.access_changed, user_ids=[bob.pk])
        await asyncio.to_thread(live.access_changed, project_ids=[org_a.project.pk])
        return [await layer.receive(by_user), await layer.receive(by_project)]

    assert async_to_sync(scenario)() == [{"type": "live.access"}, {"type": "live.access"}]


def test_notices_are_published_in_the_order_they_were_handed_over(org_a, bob):
    """Each hand-over is published by its own task on the publisher's loop. Unordered, a notice to
    one group overtook an earlier one to many groups (and, under load, one to the same group): a
    socket in both heard them in the wrong order, and the page's cursor logic can drop the second."""
    layer = get_channel_layer()
    organization_id = org_a.organization.pk
    others = range(10**6, 10**6 + 60)  # users nobody is: their groups are empty, but cost a send each

    async def scenario() -> list[str]:
        channel = await layer.new_channel()
        await layer.group_add(live.user_group_name(bob.pk), channel)
        await layer.group_add(live.organization_group_name(organization_id), channel)

        def hand_over() -> None:
            live.access_changed(user_ids=[*others, bob.pk])
            live.announce_organization(organization_id, {"kind": "alerts", "project": 0})

        await asyncio.to_thread(hand_over)
        return [(await layer.receive(channel))["type"] for _ in range(2)]

    assert async_to_sync(scenario)() == ["live.access", "live.org"]
