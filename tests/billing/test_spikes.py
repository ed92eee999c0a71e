"""Spike protection: a burst past 5x a project's 7-day same-hour average (and above the floor) is
dropped for the rest of that hour with reason `spike`; the organization is told once per burst
(email + banner) and the usage page shows it; admins switch it per project, audited."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.billing import spikes
from apps.billing.models import SpikeEpisode, UsageHour
from apps.billing.tasks import flush_usage, refresh_spike_allowances
from apps.projects.models import Project, Role
from tests.billing.conftest import put_on_plan, usage_of
from tests.conftest import make_member
from tests.ingestion.conftest import count
from tests.telemetry import post_json

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 10, 14, 5, tzinfo=UTC)  # 55 minutes left in the hour


@pytest.fixture(autouse=True)
def _small_floor(settings):
    settings.SPIKE_PROTECTION_FLOOR = 50
    settings.SPIKE_PROTECTION_FACTOR = 5.0


def history(project: Project, per_hour: int, hour: int = 14, outcome: str = "accepted") -> None:
    """The project sent `per_hour` records in hour `hour` (UTC) of each of the 7 days before NOW."""
    UsageHour.objects.bulk_create(
        UsageHour(
            organization_id=project.organization_id,
            project_id=project.pk,
            signal="logs",
            outcome=outcome,
            hour=NOW.replace(hour=hour, minute=0) - timedelta(days=day),
            count=per_hour,
        )
        for day in range(1, 8)
    )


def send(org, n):
    return post_json("/api/v1/ingest/logs", [{"message": f"m{i}"} for i in range(n)], org.ingest_key)


def test_the_allowance_is_five_times_the_same_hour_average_and_never_below_the_floor(org_a):
    put_on_plan(org_a.organization, events_per_month=1000, overage="allow")  # 1 % = 10 < floor
    history(org_a.project, 20, hour=14)
    history(org_a.project, 1000, hour=15)
    history(org_a.project, 9000, hour=14, outcome="spike")  # a past burst's drops do not count
    hours = [
        NOW.replace(minute=0),
        NOW.replace(minute=0) + timedelta(hours=1),
        NOW.replace(minute=0, hour=16),
    ]
    values = spikes.allowances([(org_a.project.pk, org_a.organization.pk)], hours)
    assert [values[(org_a.project.pk, h)] for h in hours] == [100, 5000, 50]
    put_on_plan(org_a.organization, "big", events_per_month=1_000_000)  # 1 % of the plan: 10,000
    values = spikes.allowances([(org_a.project.pk, org_a.organization.pk)], hours)
    assert values[(org_a.project.pk, hours[0])] == 10_000


def test_a_synthetic_burst_is_dropped_for_the_rest_of_the_hour_and_told_once(org_a, alice_client):
    make_member(org_a.organization, "adam@acme.test", Role.ADMIN)
    put_on_plan(org_a.organization, events_per_month=1000, overage="allow")
    history(org_a.project, 20)  # baseline 20 an hour: allowance 100
    with time_machine.travel(NOW, tick=False):
        refresh_spike_allowances()
        assert send(org_a, 80).json()["accepted"] == 80  # a busy hour, but under 5x: untouched
        second = send(org_a, 50).json()
        assert (second["accepted"], second["dropped"]) == (20, {"spike": 30})
        assert "Spike protection" in second["errors"][0]
        refused = send(org_a, 5)
        assert refused.status_code == 429
        assert refused["Retry-After"] == str(55 * 60)  # to the next full hour
        error = refused.json()["error"]
        assert error["code"] == "spike_protection" and error["details"]["reason"] == "spike"
        assert refused.has_header("X-Vigil-Quota-Limit")
        flush_usage()
        flush_usage()  # a second run tells nobody twice
        assert count("logs_event", org_a.project.id) == 100
        assert usage_of(org_a.organization) == {("logs", "accepted"): 100, ("logs", "spike"): 35}
        assert len(mail.outbox) == 1
        assert "Spike protection is dropping telemetry of Acme web" in mail.outbox[0].subject
        assert sorted(mail.outbox[0].to) == ["adam@acme.test", "alice@acme.test"]
        episode = SpikeEpisode.objects.get()
        assert (episode.hour, episode.threshold, episode.dropped) == (NOW.replace(minute=0), 100, 35)
        page = alice_client.get(
            reverse("projects:organization", args=[org_a.organization.pk])
        ).content.decode()
        assert 'data-testid="spike-banner"' in page and "35 records" in page
        usage = alice_client.get(reverse("billing:usage", args=[org_a.organization.pk])).content.decode()
        assert 'data-testid="spike-episodes"' in usage and "2026-12-10 14:00" in usage
    # The burst goes on into the next hour (no history at 15:00: the floor, 50): dropped again,
    # recorded as a second episode, but nobody is emailed again for the same burst.
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        refresh_spike_allowances()
        answer = send(org_a, 60).json()
        assert (answer["accepted"], answer["dropped"]) == (50, {"spike": 10})
        flush_usage()
        assert SpikeEpisode.objects.count() == 2 and len(mail.outbox) == 1
    # A new burst a day later is a new episode: one more email.
    with time_machine.travel(NOW + timedelta(days=1, hours=3), tick=False):
        refresh_spike_allowances()
        send(org_a, 70)
        flush_usage()
        assert len(mail.outbox) == 2


def test_a_project_without_an_allowance_yet_is_not_held_back(org_a):
    put_on_plan(org_a.organization, events_per_month=1000, overage="allow")
    with time_machine.travel(NOW, tick=False):  # the baseline task has not run
        assert send(org_a, 300).json()["accepted"] == 300


def test_admins_switch_it_off_and_on_audited_and_it_bites_at_once(org_a, alice_client, bob_client):
    put_on_plan(org_a.organization, events_per_month=1000, overage="allow")
    url = f"/api/v1/projects/{org_a.project.pk}/spike-protection"
    with time_machine.travel(NOW, tick=False):
        refresh_spike_allowances()
        assert alice_client.get(url).json() == {
            "project_id": org_a.project.pk,
            "enabled": True,
            "allowance_this_hour": 50,
        }
        assert bob_client.put(url, {"enabled": False}, content_type="application/json").status_code == 403
        assert alice_client.put(url, {"enabled": "no"}, content_type="application/json").status_code == 400
        with django_capture_on_commit():
            off = alice_client.put(url, {"enabled": False}, content_type="application/json")
        assert off.status_code == 200 and off.json()["enabled"] is False
        assert alice_client.get(url).json()["allowance_this_hour"] is None
        assert send(org_a, 120).json()["accepted"] == 120
        refresh_spike_allowances()  # the periodic task leaves a switched-off project alone
        assert send(org_a, 120).json()["accepted"] == 120
        event = AuditEvent.objects.get(action="billing.spike_protection.change")
        assert event.changes == {"before": {"spike_protection": True}, "after": {"spike_protection": False}}
        assert event.actor_email == "alice@acme.test"
        with django_capture_on_commit():
            page = alice_client.post(
                reverse("billing:spike-protection", args=[org_a.organization.pk, org_a.project.pk]),
                {"enabled": "on"},
            )
        assert page.status_code == 302
        assert spikes.is_enabled(org_a.project)
        answer = send(org_a, 60).json()
        assert (answer["accepted"], answer["dropped"]) == (50, {"spike": 10})


def django_capture_on_commit():
    """Tests run in a transaction that never commits: run on_commit callbacks at once."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def test_the_usage_page_lists_spike_protection_per_project_and_only_admins_get_the_switch(
    org_a, alice_client, bob_client
):
    for client, can_switch in ((alice_client, True), (bob_client, False)):
        page = client.get(reverse("billing:usage", args=[org_a.organization.pk])).content.decode()
        assert 'data-testid="spike-settings"' in page and "Acme web" in page
        assert ("Turn off" in page) is can_switch
    other = alice_client.post(
        reverse("billing:spike-protection", args=[org_a.organization.pk, 999_999]), {"enabled": "off"}
    )
    assert other.status_code == 404


def test_the_usage_page_title_is_the_title(org_a, alice_client):
    page = alice_client.get(reverse("billing:usage", args=[org_a.organization.pk])).content.decode()
    assert f"<title>Usage · {org_a.organization.name} · Vigil</title>" in page
    assert page.count("<h2>Statements</h2>") == 1
