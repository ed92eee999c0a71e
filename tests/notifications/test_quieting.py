"""Silences (API), maintenance windows across DST and midnight, and inhibition by a down service."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine

from apps.audit.models import AuditEvent
from apps.notifications import dispatch, sender
from apps.notifications.models import MaintenanceWindow, Silence
from apps.notifications.silences import window_active
from tests.notifications.conftest import fire, make_channel, make_policy

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def run(now: datetime) -> None:
    dispatch.transitions_dispatch(now)
    dispatch.groups_flush(now)
    sender.send_due(now=now)


def silences_url(project, suffix=""):
    return f"/api/v1/projects/{project.pk}/alerts/silences{suffix}"


def test_a_member_silences_for_two_hours_and_expires_it(client, org_a):
    from tests.conftest import client_for, make_member

    member = client_for(make_member(org_a.organization, "mia@acme.test", "member"))
    body = {
        "matchers": [{"name": "host", "op": "=~", "value": "db-.*"}],
        "duration": "2h",
        "comment": "drill",
    }

    created = member.post(silences_url(org_a.project), body, content_type="application/json")

    assert created.status_code == 201, created.content
    silence = Silence.objects.get()
    assert silence.ends_at - silence.starts_at == timedelta(hours=2)
    assert created.json()["is_active"] is True
    assert member.get(silences_url(org_a.project)).json()[0]["comment"] == "drill"
    assert member.delete(silences_url(org_a.project, f"/{silence.pk}")).status_code == 204
    assert member.get(silences_url(org_a.project)).json() == []
    assert AuditEvent.objects.filter(action__startswith="notifications.silence.").count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"matchers": [{"name": "a", "op": "=~", "value": "(?<=x)y"}], "duration": "1h"}, "matchers"),
        ({"matchers": [{"name": "a", "op": "~", "value": "x"}], "duration": "1h"}, "matchers"),
        ({"matchers": "host=db", "duration": "1h"}, "matchers"),
        ({"matchers": [], "duration": "1h"}, "matchers"),
        ({"matchers": [{"name": "a", "op": "=", "value": "x"}]}, "ends_at"),
        ({"matchers": [{"name": "a", "op": "=", "value": "x"}], "duration": "soon"}, "duration"),
        ({"matchers": [{"name": "a", "op": "=", "value": "x"}], "duration": "100d"}, "ends_at"),
        ({"matchers": [{"name": "a", "op": "=", "value": "x"}], "ends_at": "yesterday"}, "ends_at"),
        ({"policy_id": 999999, "duration": "1h"}, "policy_id"),
    ],
)
def test_bad_silences_are_400_naming_the_field(alice_client, org_a, body, field):
    response = alice_client.post(silences_url(org_a.project), body, content_type="application/json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def window(weekdays, start, end, tz="Europe/Berlin") -> MaintenanceWindow:
    return MaintenanceWindow(name="w", weekdays=weekdays, start_time=start, end_time=end, tz=tz)


def test_a_window_follows_local_time_across_the_spring_forward_change():
    # Sundays 01:00-05:00 Berlin. On 29 March 2026 clocks jump from 02:00 to 03:00 (UTC+1 → UTC+2).
    sunday_night = window([6], time(1), time(5))
    assert window_active(sunday_night, datetime(2026, 3, 22, 3, 59, tzinfo=UTC))  # 04:59 CET
    assert not window_active(sunday_night, datetime(2026, 3, 22, 4, 0, tzinfo=UTC))  # 05:00 CET
    assert window_active(sunday_night, datetime(2026, 3, 29, 2, 59, tzinfo=UTC))  # 04:59 CEST
    assert not window_active(sunday_night, datetime(2026, 3, 29, 3, 0, tzinfo=UTC))  # 05:00 CEST
    assert not window_active(sunday_night, datetime(2026, 3, 28, 23, 59, tzinfo=UTC))  # 00:59 CET


def test_a_window_crossing_midnight_covers_the_early_hours_of_the_next_day():
    saturday_late = window([5], time(23), time(2), tz="UTC")  # Saturday 23:00 → Sunday 02:00
    assert window_active(saturday_late, datetime(2026, 3, 7, 23, 30, tzinfo=UTC))  # Saturday
    assert window_active(saturday_late, datetime(2026, 3, 8, 1, 59, tzinfo=UTC))  # Sunday
    assert not window_active(saturday_late, datetime(2026, 3, 8, 2, 0, tzinfo=UTC))
    assert not window_active(saturday_late, datetime(2026, 3, 8, 23, 30, tzinfo=UTC))  # Sunday night
    assert not window_active(saturday_late, datetime(2026, 3, 7, 1, 0, tzinfo=UTC))  # Saturday early


def test_alerts_during_a_maintenance_window_are_not_sent(alice_client, org_a, receiver):
    make_channel(org_a.organization, "webhook", {"url": receiver.url}, is_default=True)
    created = alice_client.post(
        f"/api/v1/projects/{org_a.project.pk}/alerts/maintenance",
        {
            "name": "deploys",
            "weekdays": [0],
            "start_time": "09:30",
            "end_time": "08:00",
            "tz": "Europe/Berlin",
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    policy = make_policy(org_a.project, priority="P1")
    monday_0930_berlin = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    with time_machine.travel(monday_0930_berlin, tick=False):
        fire(policy, {"host": "a"}, 42.0, monday_0930_berlin)
        run(monday_0930_berlin)
    assert receiver.requests == []
    before = datetime(2026, 3, 2, 6, 59, tzinfo=UTC)  # Monday 07:59 Berlin: before the window opens
    fire(policy, {"host": "b"}, 42.0, before)
    run(before)
    assert [r.json()["data"]["labels"] for r in receiver.requests] == [{"host": "b"}]


def test_a_down_service_inhibits_its_other_alerts(org_a, receiver):
    make_channel(org_a.organization, "webhook", {"url": receiver.url}, is_default=True)
    absence = make_policy(
        org_a.project,
        name="checkout down",
        kind="absence",
        spec={"source": "logs", "group_by": "service"},
        priority="P1",
    )
    errors = make_policy(org_a.project, name="errors", priority="P1")
    fire(absence, {"service": "checkout"}, 1.0, T0)
    run(T0)
    fire(errors, {"service": "checkout"}, 42.0, T0 + timedelta(minutes=1))
    fire(errors, {"service": "search"}, 42.0, T0 + timedelta(minutes=1))
    run(T0 + timedelta(minutes=6))

    sent = [(r.json()["data"]["policy"]["name"], r.json()["data"]["labels"]) for r in receiver.requests]
    assert sent == [("checkout down", {"service": "checkout"}), ("errors", {"service": "search"})]
