"""Sentry cron check-ins from the real `sentry_sdk` (`@monitor`, `capture_checkin`) against a real
Vigil server: they ping the project's heartbeat of that slug (made from `monitor_config`), and a
missed or failed run fires the heartbeat's alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest
import sentry_sdk
import time_machine
from sentry_sdk.crons import capture_checkin, monitor

from apps.alerts.models import Heartbeat, Policy
from apps.alerts.services import heartbeat_create
from apps.audit.models import AuditEvent
from apps.errors.dsn import dsn_of
from tests.alerts.conftest import evaluate
from tests.conftest import client_for
from tests.errors.test_envelopes import request

pytestmark = pytest.mark.django_db(transaction=True)

NIGHTLY = {
    "schedule": {"type": "crontab", "value": "30 2 * * *"},
    "timezone": "Europe/Berlin",
    "checkin_margin": 5,
    "max_runtime": 30,
}


@pytest.fixture
def sdk(vigil_server, dsn_key):
    sentry_sdk.init(dsn=dsn_of(dsn_key, vigil_server.url), default_integrations=False, environment="prod")
    yield sentry_sdk
    sentry_sdk.get_client().close()
    sentry_sdk.init(dsn=None)


@monitor(monitor_slug="nightly-report", monitor_config=NIGHTLY)
def nightly_report() -> str:
    return "done"


def next_run_after(moment: datetime) -> datetime:
    """The next 02:30 in Berlin after `moment`, in UTC."""
    local = moment.astimezone(ZoneInfo("Europe/Berlin"))
    run = local.replace(hour=2, minute=30, second=0, microsecond=0)
    if run <= local:
        run = (local + timedelta(days=1)).replace(hour=2, minute=30, second=0, microsecond=0)
    return run.astimezone(UTC)


def test_a_monitored_job_makes_its_heartbeat_from_the_config_and_a_missed_run_fires(sdk, org_a, alice):
    assert nightly_report() == "done"
    sdk.flush(timeout=10)

    heartbeat = Heartbeat.objects.get(project=org_a.project, slug="nightly-report")
    assert (heartbeat.schedule_kind, heartbeat.cron, heartbeat.tz) == ("cron", "30 2 * * *", "Europe/Berlin")
    assert (heartbeat.grace_seconds, heartbeat.max_runtime_seconds) == (300, 1800)
    # in_progress, then ok: the run started and finished.
    assert heartbeat.last_start_at is not None and heartbeat.last_ping_kind == "success"
    assert heartbeat.last_ping_at >= heartbeat.last_start_at
    listed = client_for(alice).get(f"/api/v1/projects/{org_a.project.pk}/heartbeats").json()
    assert [(h["slug"], h["status"], h["max_runtime"]) for h in listed] == [("nightly-report", "up", "30m")]
    assert AuditEvent.objects.filter(action="alerts.heartbeat.create").count() == 1

    due = next_run_after(heartbeat.last_ping_at)
    within_margin = due + timedelta(minutes=4)
    with time_machine.travel(within_margin, tick=False):
        assert evaluate(heartbeat.policy, within_margin) == []
    missed = due + timedelta(minutes=6)
    with time_machine.travel(missed, tick=False):
        assert evaluate(heartbeat.policy, missed) == [("normal", "firing", 1.0, {})]


def test_an_error_check_in_fires_at_once_and_the_next_ok_resolves(sdk, org_a):
    capture_checkin(monitor_slug="import", status="in_progress", monitor_config=NIGHTLY)
    capture_checkin(monitor_slug="import", status="error", monitor_config=NIGHTLY)
    sdk.flush(timeout=10)
    heartbeat = Heartbeat.objects.get(project=org_a.project, slug="import")
    assert heartbeat.last_ping_kind == "fail"
    # The failing check-in made the policy due at once.
    now = Policy.objects.get(pk=heartbeat.policy_id).next_due_at
    assert evaluate(heartbeat.policy, now) == [("normal", "firing", 1.0, {})]

    capture_checkin(monitor_slug="import", status="ok")  # no config: the monitor is found by slug
    sdk.flush(timeout=10)
    now = Policy.objects.get(pk=heartbeat.policy_id).next_due_at
    assert evaluate(heartbeat.policy, now) == [("firing", "resolved", 0.0, {})]


def test_a_run_in_progress_past_its_max_runtime_fires(sdk, org_a):
    config = {"schedule": {"type": "interval", "value": 1, "unit": "day"}, "max_runtime": 10}
    capture_checkin(monitor_slug="etl", status="in_progress", monitor_config=config)
    sdk.flush(timeout=10)
    heartbeat = Heartbeat.objects.get(project=org_a.project, slug="etl")
    assert (heartbeat.schedule_kind, heartbeat.period_seconds, heartbeat.grace_seconds) == (
        "period",
        86400,
        60,
    )
    started = heartbeat.last_start_at
    running = started + timedelta(minutes=9)
    with time_machine.travel(running, tick=False):
        assert evaluate(heartbeat.policy, running) == []
    stuck = started + timedelta(minutes=11)
    with time_machine.travel(stuck, tick=False):
        assert evaluate(heartbeat.policy, stuck) == [("normal", "firing", 1.0, {})]


def test_a_changed_config_in_code_changes_the_schedule(sdk, org_a):
    capture_checkin(monitor_slug="sync", status="ok", monitor_config=NIGHTLY)
    hourly = {"schedule": {"type": "interval", "value": 2, "unit": "hour"}, "checkin_margin": 10}
    capture_checkin(monitor_slug="sync", status="ok", monitor_config=hourly)
    sdk.flush(timeout=10)
    heartbeat = Heartbeat.objects.get(project=org_a.project, slug="sync")
    assert (heartbeat.schedule_kind, heartbeat.period_seconds, heartbeat.grace_seconds) == (
        "period",
        7200,
        600,
    )
    assert heartbeat.max_runtime_seconds is None


def test_a_monitor_made_in_vigil_with_a_slug_takes_check_ins_without_config(sdk, org_a):
    heartbeat = heartbeat_create(
        org_a.project,
        {"name": "Backups", "slug": "backups", "period_seconds": 3600, "grace_seconds": 600},
        actor=org_a.owner,
    )
    capture_checkin(monitor_slug="backups", status="ok")
    sdk.flush(timeout=10)
    heartbeat.refresh_from_db()
    assert heartbeat.last_ping_kind == "success" and heartbeat.name == "Backups"


def test_check_ins_for_unknown_slugs_or_bad_configs_are_accepted_and_dropped(sdk, org_a, dsn_key):
    capture_checkin(monitor_slug="nobody-knows", status="ok")
    bad_cron = {"schedule": {"type": "crontab", "value": "every night"}}
    capture_checkin(monitor_slug="broken", status="ok", monitor_config=bad_cron)
    bad_zone = {**NIGHTLY, "timezone": "Mars/Olympus"}
    capture_checkin(monitor_slug="zoned", status="ok", monitor_config=bad_zone)
    sdk.flush(timeout=10)
    assert not Heartbeat.objects.filter(project=org_a.project).exists()

    odd = [
        {
            "monitor_slug": "x",
            "status": "ok",
            "monitor_config": {"schedule": {"type": "interval", "value": True}},
        },
        {"monitor_slug": "x", "status": "weird"},
        {"monitor_slug": ["x"], "status": "ok"},
        {"monitor_slug": "y" * 100, "status": "ok", "monitor_config": NIGHTLY},
        {"status": "ok", "monitor_config": "nightly"},
    ]
    body = b"{}\n" + b"".join(b'{"type":"check_in"}\n' + orjson.dumps(item) + b"\n" for item in odd)
    reply = request(org_a.project.pk, body, query=f"sentry_key={dsn_key.public_key}")
    assert reply.status == 200, reply.body
    assert not Heartbeat.objects.filter(project=org_a.project).exists()


def test_the_slug_is_unique_per_project_in_the_api(org_a, alice):
    url = f"/api/v1/projects/{org_a.project.pk}/heartbeats"
    body = {"name": "Backups", "slug": "backups", "period": "1h", "grace": "10m"}
    assert client_for(alice).post(url, body, content_type="application/json").status_code == 201
    again = client_for(alice).post(url, body, content_type="application/json")
    assert again.status_code == 400
    assert "slug" in again.json()["error"]["details"]
    spaced = client_for(alice).post(url, {**body, "slug": "two words"}, content_type="application/json")
    assert spaced.status_code == 400


def test_a_new_monitor_past_the_plans_policy_limit_is_dropped_not_a_500(org_a, dsn_key, alice):
    from tests.billing.conftest import put_on_plan

    put_on_plan(org_a.organization, "no-alerts", alert_policies_per_project=0, events_per_month=10**9)
    body = (
        b'{}\n{"type":"check_in"}\n'
        + orjson.dumps({"monitor_slug": "nightly", "status": "ok", "monitor_config": NIGHTLY})
        + b"\n"
    )
    reply = request(org_a.project.pk, body, query=f"sentry_key={dsn_key.public_key}")
    assert reply.status == 200, reply.body
    assert not Heartbeat.objects.filter(project=org_a.project).exists()
    page = client_for(alice).post(f"/projects/{org_a.project.pk}/issues/alerts/new/", {"kind": "new_issue"})
    assert page.status_code == 302 and not Policy.objects.filter(project=org_a.project).exists()
