"""Spike protection: a burst far above a project's usual hourly volume is dropped for the rest of
that hour (reason `spike`) instead of eating the month's quota.

Design note. Ingestion must not query PostgreSQL per request, so the decision is made in Redis
by the same script that meters the request (apps.billing.quota): it reads the project's
*allowance* for the current hour, `vigil:spike:allow:<project>:<hour>`, and what the project
sent this hour. This module's task (`refresh_allowances`, every 10 minutes by beat) computes the
allowance of the current and the next hour for every project that has spike protection on:

    allowance = max(SPIKE_PROTECTION_FACTOR (5) x baseline, floor)
    baseline  = the records the project sent (accepted or dropped by the quota) in the same hour
                of each of the 7 days before, from billing_usagehour, divided by 7
    floor     = max(SPIKE_PROTECTION_FLOOR (records per hour), 1 % of the plan's monthly events)

The floor keeps a quiet or new project from being throttled for its first real traffic; 1 % of
the monthly quota is what a burst may eat in an hour before protection cuts in. A project with
protection off has no allowance key, so the script lets everything through. Turning it on or off
(admins, audited) rewrites the keys at once.

Telling the organization: after each usage flush (every minute) `notify_episodes` finds the
hours with `spike` drops and claims one SpikeEpisode row per project and hour (a unique key, so
twice-run tasks never send twice); owners and admins get one email when a burst starts (not
again while it carries on into the next hour), and every page of the organization shows a
banner while the episode is recent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from apps import audit
from apps.audit import Actor
from apps.billing.models import SpikeEpisode, SpikeProtection, Subscription
from apps.billing.notices import owners_and_admins
from apps.billing.quota import spike_keys
from apps.projects.models import Organization, Project

logger = logging.getLogger(__name__)

BASELINE_DAYS = 7
BANNER_HOURS = 24
KEY_TTL_SECONDS = 3 * 3600  # the next hour's key must outlive the hour it is written in
# Same hours of the 7 days before, per project; spike drops excluded (a past burst must not
# raise the baseline it is judged against), quota drops included (they were real traffic).
BASELINE_SQL = """
SELECT project_id, hour, sum(count)
FROM billing_usagehour
WHERE hour = ANY(%s) AND outcome IN ('accepted', 'quota')
GROUP BY project_id, hour
"""
SPIKES_SQL = """
SELECT organization_id, project_id, date_trunc('hour', minute) AS hour, sum(count)
FROM billing_usageminute
WHERE outcome = 'spike' AND minute >= %s
GROUP BY organization_id, project_id, date_trunc('hour', minute)
ORDER BY hour
"""


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)


def hour_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def is_enabled(project: Project) -> bool:
    setting = SpikeProtection.objects.filter(project=project).first()
    return setting is None or setting.enabled


def _floors() -> dict[int, int]:
    """Per organization: the allowance floor from its plan."""
    base = int(settings.SPIKE_PROTECTION_FLOOR)
    return {
        organization_id: max(base, events_per_month // 100)
        for organization_id, events_per_month in Subscription.objects.values_list(
            "organization_id", "plan__events_per_month"
        )
    }


def allowances(projects: list[tuple[int, int]], hours: list[datetime]) -> dict[tuple[int, datetime], int]:
    """{(project id, hour): records allowed} for (project id, organization id) pairs."""
    past = [hour - timedelta(days=day) for hour in hours for day in range(1, BASELINE_DAYS + 1)]
    sent: dict[tuple[int, datetime], int] = {}
    with connection.cursor() as cursor:
        cursor.execute(BASELINE_SQL, [past])
        for project_id, hour, count in cursor.fetchall():
            sent[(project_id, hour)] = int(count)
    floors = _floors()
    base = int(settings.SPIKE_PROTECTION_FLOOR)
    factor = float(settings.SPIKE_PROTECTION_FACTOR)
    result = {}
    for project_id, organization_id in projects:
        floor = floors.get(organization_id, base)
        for hour in hours:
            total = sum(
                sent.get((project_id, hour - timedelta(days=d)), 0) for d in range(1, BASELINE_DAYS + 1)
            )
            result[(project_id, hour)] = max(floor, int(factor * total / BASELINE_DAYS))
    return result


def refresh_allowances(now: datetime | None = None, project_ids: list[int] | None = None) -> int:
    """Write the allowance keys of the current and the next hour for every project with spike
    protection on (or only `project_ids`), and delete those of projects with it off. Idempotent."""
    hour = hour_start(now or timezone.now())
    hours = [hour, hour + timedelta(hours=1)]
    projects = Project.objects.all()
    if project_ids is not None:
        projects = projects.filter(pk__in=project_ids)
    disabled = set(
        SpikeProtection.objects.filter(enabled=False, project__in=projects).values_list(
            "project_id", flat=True
        )
    )
    pairs = list(projects.values_list("pk", "organization_id"))
    enabled = [(pk, org) for pk, org in pairs if pk not in disabled]
    values = allowances(enabled, hours)
    client = _client()
    try:
        with client.pipeline(transaction=False) as pipe:
            for (project_id, at), allowance in values.items():
                pipe.set(spike_keys(project_id, int(at.timestamp()))[0], allowance, ex=KEY_TTL_SECONDS)
            for project_id in disabled:
                for at in hours:
                    pipe.delete(spike_keys(project_id, int(at.timestamp()))[0])
            pipe.execute()
    finally:
        client.close()
    return len(values)


def allowance_now(project_id: int) -> int | None:
    """The project's allowance for this hour as ingestion sees it (None: no protection now)."""
    hour = int(hour_start(timezone.now()).timestamp())
    client = _client()
    try:
        raw = client.get(spike_keys(project_id, hour)[0])
    except redis.RedisError:
        return None
    finally:
        client.close()
    return int(raw) if raw is not None else None


def spike_protection_set(project: Project, enabled: bool, *, by: Actor) -> bool:
    """Turn the project's spike protection on or off (admins; audited). Bites at once: the
    allowance keys are rewritten after the commit. Returns whether anything changed."""
    with transaction.atomic():
        setting, _ = SpikeProtection.objects.select_for_update().get_or_create(project=project)
        if setting.enabled == enabled:
            return False
        before = setting.enabled
        setting.enabled = enabled
        setting.changed_at = timezone.now()
        setting.save(update_fields=["enabled", "changed_at"])
        audit.record(
            "billing.spike_protection.change",
            by=by,
            organization=project.organization,
            target=project,
            before={"spike_protection": before},
            after={"spike_protection": enabled},
        )
        transaction.on_commit(lambda: _refresh_quietly(project.pk))
    return True


def _refresh_quietly(project_id: int) -> None:
    try:
        refresh_allowances(project_ids=[project_id])
    except redis.RedisError:  # the 10-minute task catches up
        logger.warning("spike protection: allowance of project %s not refreshed (redis)", project_id)


# --- Telling the organization ------------------------------------------------------------------


def notify_episodes(now: datetime) -> int:
    """Record each (project, hour) with spike drops since the previous hour; email owners and
    admins when a burst starts. Returns how many episodes were new."""
    since = hour_start(now) - timedelta(hours=1)
    with connection.cursor() as cursor:
        cursor.execute(SPIKES_SQL, [since])
        rows = cursor.fetchall()
    created = 0
    for organization_id, project_id, hour, dropped in rows:
        if _claim(organization_id, project_id, hour, int(dropped)):
            created += 1
            carried_on = SpikeEpisode.objects.filter(
                project_id=project_id, hour=hour - timedelta(hours=1)
            ).exists()
            if not carried_on:
                _email(organization_id, project_id, hour)
    return created


def _claim(organization_id: int, project_id: int, hour: datetime, dropped: int) -> bool:
    """Insert the episode, or bring its dropped count up to date; True if it is new."""
    threshold = allowance_at(project_id, hour)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_spikeepisode"
            " (organization_id, project_id, hour, threshold, dropped, created_at)"
            " SELECT %s, %s, %s, %s, %s, now()"
            " WHERE EXISTS (SELECT 1 FROM projects_organization WHERE id = %s)"
            " ON CONFLICT (project_id, hour) DO UPDATE SET dropped = EXCLUDED.dropped"
            " RETURNING (xmax = 0)",
            [organization_id, project_id, hour, threshold, dropped, organization_id],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def allowance_at(project_id: int, hour: datetime) -> int | None:
    client = _client()
    try:
        raw = client.get(spike_keys(project_id, int(hour.timestamp()))[0])
    except redis.RedisError:
        return None
    finally:
        client.close()
    return int(raw) if raw is not None else None


def _email(organization_id: int, project_id: int, hour: datetime) -> None:
    organization, recipients = owners_and_admins(organization_id)
    project_name = Project.objects.filter(pk=project_id).values_list("name", flat=True).first() or project_id
    subject = f"Spike protection is dropping telemetry of {project_name} ({organization.name})"
    body = (
        f"Project {project_name} of {organization.name} sent far more than its usual volume in the hour "
        f"from {hour:%Y-%m-%d %H:00} UTC (over {settings.SPIKE_PROTECTION_FACTOR:g}x its average of the "
        "same hour over the past 7 days). So that one burst does not use up the month's quota, records "
        "beyond the hour's allowance are dropped until the next full hour.\n\n"
        "The Usage page shows what was dropped (reason: spike). Admins can turn spike protection off "
        "for the project there if the new volume is expected."
    )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        # The banner still shows; the email is not retried (it must never arrive twice).
        logger.exception("spike email failed", extra={"organization_id": organization_id})
        return
    SpikeEpisode.objects.filter(project_id=project_id, hour=hour).update(emailed_at=timezone.now())


def recent_episodes(organization: Organization, now: datetime, hours: int = BANNER_HOURS) -> list[Any]:
    """Spike episodes of the last `hours`, newest first (the banner and the usage page)."""
    return list(
        SpikeEpisode.objects.filter(
            organization=organization, hour__gte=hour_start(now) - timedelta(hours=hours)
        )
    )
