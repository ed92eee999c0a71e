"""A web worker killed (SIGKILL) in the middle of grouping a batch loses no acknowledged event
and counts none twice: the batch's transaction dies with it, the events stay stored and pending,
and the next run (here the beat task, as after any crash) counts each of them once."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest
from django.db import connection, transaction

from apps.errors.models import Event, Issue
from apps.errors.tasks import group_pending_task
from tests.errors.conftest import wait_until
from tests.ingestion.server import Server

pytestmark = pytest.mark.django_db(transaction=True)


def send(server: Server, dsn_key, message: str) -> str:
    event_id = uuid.uuid4().hex
    body = orjson.dumps({"event_id": event_id}) + b'\n{"type":"event"}\n' + orjson.dumps({"message": message})
    url = f"{server.url}/api/{dsn_key.project_id}/envelope/?sentry_key={dsn_key.public_key}"
    response = httpx.post(url, content=body, timeout=30)
    assert response.status_code == 200, response.text
    return event_id


def grouper_waiting_on_issue_lock() -> bool:
    """A grouping transaction of the server is blocked on the issue row this test holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE %s AND pid <> pg_backend_pid()",
            ["%errors_issue%FOR UPDATE%"],
        )
        return cursor.fetchone()[0] > 0


def no_server_backend_left(server_pid_backends: set[int]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [list(server_pid_backends)])
        return not cursor.fetchall()


def test_a_worker_killed_mid_batch_loses_and_double_counts_nothing(dsn_key):
    server = Server()
    try:
        first = send(server, dsn_key, "queue full")
        issue = wait_until(lambda: Issue.objects.filter(project_id=dsn_key.project_id).first())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
            before = {pid for (pid,) in cursor.fetchall()}
        with transaction.atomic():
            # Hold the issue's row: the server's next batch claims its events, maps them onto this
            # issue and then waits here, in the middle of its transaction.
            Issue.objects.select_for_update().get(pk=issue.pk)
            acknowledged = [send(server, dsn_key, "queue full") for _ in range(20)]
            acknowledged.append(send(server, dsn_key, "disk full"))  # a new issue in the same batch
            wait_until(grouper_waiting_on_issue_lock)
            server.process.kill()  # SIGKILL: no shutdown, no rollback sent by the client
            server.process.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
            server_backends = {pid for (pid,) in cursor.fetchall()} - before
        wait_until(lambda: no_server_backend_left(server_backends))
    finally:
        server.stop()

    # One statement, one snapshot: another server of the test session may be grouping meanwhile
    # (its sweep does what the beat task does), so compare counts with counted events atomically.
    # (The events of a known issue are stored with it: until counted, they are also pending.)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT event_count FROM errors_issue WHERE id = %s),"
            " (SELECT count(*) FROM errors_event e WHERE project_id = %s AND issue_id = %s"
            "  AND NOT EXISTS (SELECT FROM errors_pendingevent p WHERE p.event = e.id))",
            [issue.pk, dsn_key.project_id, issue.pk],
        )
        count_after_kill, counted_after_kill = cursor.fetchone()

    group_pending_task()  # the beat task every minute; any web worker's sweep does the same

    events = list(Event.objects.filter(project_id=dsn_key.project_id))
    issues = {i.title: i for i in Issue.objects.filter(project_id=dsn_key.project_id)}
    assert {e.event_id.hex for e in events} == {first, *acknowledged}  # every acknowledged event, once
    assert count_after_kill == counted_after_kill  # the killed batch counted nothing it left pending
    assert all(e.issue_id is not None for e in events)
    assert (issues["queue full"].event_count, issues["disk full"].event_count) == (21, 1)
    assert sum(i.event_count for i in issues.values()) == len(events) == 22
