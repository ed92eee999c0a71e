"""Plans, subscriptions and the usage meter's tables.

Quota unit: a plan's `events_per_month` counts every accepted record of every signal together —
a log record, a span and a metric data point are one event each. One number is what a team can
reason about ("we send 40 M things a month"), and a team that shifts from logs to spans needs no
plan change. The usage page and API still break usage down per signal.

The billing period is the calendar month in UTC: it resets at 00:00 UTC on the 1st.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.projects.models import Organization, Project


class Overage(models.TextChoices):
    BLOCK = "block", "Block: refuse with 429 past the quota"
    THROTTLE = "throttle", "Throttle: keep a shrinking sample past the quota"
    ALLOW = "allow", "Allow: accept and count the overage (up to the cap, if any)"


class Plan(models.Model):
    """What a subscription grants. A limit left empty means "no limit"; a retention left empty
    means the deployment default (the RETENTION_* settings)."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    events_per_month = models.BigIntegerField(help_text="Accepted logs + spans + metric points per month.")
    overage = models.CharField(max_length=16, choices=Overage.choices, default=Overage.BLOCK)
    overage_cap = models.BigIntegerField(
        null=True, blank=True, help_text="With `allow`: refuse once this many events were accepted."
    )
    seats = models.PositiveIntegerField(null=True, blank=True)
    projects = models.PositiveIntegerField(null=True, blank=True)
    api_keys_per_project = models.PositiveIntegerField(null=True, blank=True)
    alert_policies_per_project = models.PositiveIntegerField(null=True, blank=True)
    retention_debug_days = models.PositiveIntegerField(null=True, blank=True)
    retention_info_days = models.PositiveIntegerField(null=True, blank=True)
    retention_warn_days = models.PositiveIntegerField(null=True, blank=True)
    retention_span_days = models.PositiveIntegerField(null=True, blank=True)
    retention_point_days = models.PositiveIntegerField(null=True, blank=True)
    retention_rollup_1m_days = models.PositiveIntegerField(null=True, blank=True)
    retention_rollup_1h_days = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["events_per_month", "slug"]

    def __str__(self) -> str:
        return self.name

    def limits(self) -> dict[str, int | str | None]:
        """The plan as the audit log and the `plans list` command show it."""
        return {
            "events_per_month": self.events_per_month,
            "overage": self.overage,
            "overage_cap": self.overage_cap,
            "seats": self.seats,
            "projects": self.projects,
            "api_keys_per_project": self.api_keys_per_project,
            "alert_policies_per_project": self.alert_policies_per_project,
            "retention_warn_days": self.retention_warn_days,
        }


class Subscription(models.Model):
    """Exactly one per organization (the one-to-one key); new organizations start on `free`."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="subscription")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    started_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.organization} on {self.plan}"


class Outcome(models.TextChoices):
    """What happened to a record that reached ingestion: accepted, or the reason it was dropped."""

    ACCEPTED = "accepted", "Accepted"
    QUOTA = "quota", "Dropped: over quota"
    SPIKE = "spike", "Dropped: spike protection"
    RATE_LIMIT = "rate_limit", "Dropped: rate limit"
    INVALID = "invalid", "Dropped: invalid"
    TOO_LARGE = "too_large", "Dropped: too large"
    RETENTION = "retention", "Dropped: older than retention"


class UsageBase(models.Model):
    # Plain ids, no foreign keys: usage outlives deleted projects (a statement must still add up)
    # and the flush upserts thousands of rows without a lookup per row.
    organization_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    signal = models.CharField(max_length=16)  # logs | traces | metrics
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    count = models.BigIntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return (
            f"org {self.organization_id} project {self.project_id} {self.signal} {self.outcome}: {self.count}"
        )


class UsageDay(UsageBase):
    day = models.DateField()  # UTC

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization_id", "day", "project_id", "signal", "outcome"], name="usage_day_unique"
            )
        ]


class UsageMinute(UsageBase):
    """Kept USAGE_MINUTES_KEPT (48 h) for the usage chart's fine resolution, then deleted."""

    minute = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization_id", "minute", "project_id", "signal", "outcome"],
                name="usage_minute_unique",
            )
        ]
        indexes = [models.Index(fields=["minute"], name="usage_minute_minute")]


class UsageHour(UsageBase):
    """Kept USAGE_HOURS_KEPT_DAYS (8): the spike protection's 7-day same-hour baseline reads it."""

    hour = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization_id", "hour", "project_id", "signal", "outcome"],
                name="usage_hour_unique",
            )
        ]
        indexes = [models.Index(fields=["hour", "project_id"], name="usage_hour_hour")]


class SpikeProtection(models.Model):
    """A project's switch for spike protection (apps.billing.spikes). No row means on: the
    default needs no row per project."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="spike_protection")
    enabled = models.BooleanField(default=True)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"spike protection {'on' if self.enabled else 'off'} for {self.project_id}"


class SpikeEpisode(models.Model):
    """An hour in which spike protection dropped records of a project. The unique key makes the
    owners' email happen once per project and hour (and not again while a burst goes on into
    the next hour)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="spike_episodes")
    project_id = models.BigIntegerField()  # a plain id: the episode outlives a deleted project
    hour = models.DateTimeField()
    threshold = models.BigIntegerField(null=True, blank=True)  # records allowed in that hour
    dropped = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project_id", "hour"], name="spike_episode_once")]
        ordering = ["-hour"]

    def __str__(self) -> str:
        return f"spike in project {self.project_id} at {self.hour:%Y-%m-%d %H:00}"


class UsageRecordDay(models.Model):
    """Accepted records stored under another UTC day than the one they arrived (and were metered)
    on: written with the rows (apps.ingestion), read by the nightly recount."""

    organization_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    signal = models.CharField(max_length=16)
    arrival_day = models.DateField()
    record_day = models.DateField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization_id", "project_id", "signal", "arrival_day", "record_day"],
                name="usage_record_day_unique",
            )
        ]
        indexes = [models.Index(fields=["record_day"], name="usage_record_day_day")]

    def __str__(self) -> str:
        moved = f"{self.count} from {self.arrival_day} to {self.record_day}"
        return f"project {self.project_id} {self.signal}: {moved}"


class UsageRecount(models.Model):
    """A difference the nightly recount found between the accepted records metered for a day and
    the rows stored for it (apps.billing.recount). Staff see these in the Django admin; a day
    that matches again on a later recount loses its row."""

    organization_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    signal = models.CharField(max_length=16)
    day = models.DateField()
    metered = models.BigIntegerField()
    stored = models.BigIntegerField()
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project_id", "signal", "day"], name="usage_recount_unique")
        ]
        ordering = ["-day", "organization_id", "project_id", "signal"]

    def __str__(self) -> str:
        counts = f"metered {self.metered}, stored {self.stored}"
        return f"project {self.project_id} {self.signal} {self.day}: {counts}"

    @property
    def difference(self) -> int:
        return self.stored - self.metered


class UsageFlush(models.Model):
    """One row per flushed batch of Redis counters: applying a batch inserts its id in the same
    transaction as the counts, so a batch applied twice (a crash before its Redis key was
    deleted, a task run twice) is recognised and skipped."""

    flush_id = models.CharField(max_length=64, primary_key=True)
    applied_at = models.DateTimeField(default=timezone.now)
    fields = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.flush_id


class MeterGap(models.Model):
    """A minute in which Redis was unreachable: accepted records were counted from the write path
    (exact), dropped ones were not counted at all. The usage page and API show these minutes."""

    organization_id = models.BigIntegerField()
    minute = models.DateTimeField()
    requests = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization_id", "minute"], name="meter_gap_unique")]

    def __str__(self) -> str:
        return f"org {self.organization_id} unmetered at {self.minute:%Y-%m-%d %H:%M}"


class UsageNotice(models.Model):
    """An organization crossed `threshold` % of its monthly quota in `period` (YYYYMM, UTC).
    The unique key makes each notice — and its email — happen once per period."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="usage_notices")
    period = models.CharField(max_length=6)
    threshold = models.PositiveSmallIntegerField()
    used = models.BigIntegerField()
    limit = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "period", "threshold"], name="usage_notice_once")
        ]

    def __str__(self) -> str:
        return f"{self.organization} at {self.threshold} % in {self.period}"


class Statement(models.Model):
    """One closed billing period of one organization: the plan, what was accepted, what was dropped
    by reason, and the overage. Made once (the unique key) by apps.billing.statements."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="statements")
    period = models.CharField(max_length=6)  # YYYYMM, UTC
    plan_slug = models.SlugField(max_length=40)
    plan_name = models.CharField(max_length=100)
    events_included = models.BigIntegerField()
    accepted = models.BigIntegerField()
    dropped = models.JSONField(default=dict)  # {reason: count}
    overage = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    reported_at = models.DateTimeField(null=True, blank=True)
    provider_ref = models.CharField(max_length=200, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "period"], name="statement_once")]
        ordering = ["-period"]

    def __str__(self) -> str:
        return f"{self.organization} {self.period}"
