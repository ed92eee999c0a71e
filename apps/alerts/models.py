"""Alert policies, their instances, incidents, transitions (the notification outbox) and heartbeats.

Design note. A Policy is evaluated every `interval_seconds`; one evaluation yields one sample per
group (an AlertInstance, keyed by its group labels), and the state machine in `evaluation.py`
moves each instance between normal → pending → firing → resolved. Every move is a Transition row,
written in the same transaction as the instance's new state, so a notifier reading transitions
can never see a state that was rolled back nor miss one that was committed. While an instance
firing is one Incident (opened when it starts firing, resolved when it stops or by a member).

Durations are whole seconds in integer columns: they are compared with arithmetic in the
evaluator, and the API speaks "5m"/"30s" (see apps.alerts.durations).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.projects.models import Project


class Kind(models.TextChoices):
    LOG_COUNT = "log_count", "Log count"
    LOG_RATIO = "log_ratio", "Log ratio"
    METRIC = "metric", "Metric"
    SPAN = "span", "Spans (errors, latency)"
    ABSENCE = "absence", "Absence of data"
    HEARTBEAT = "heartbeat", "Heartbeat"
    NEW_PATTERN = "new_pattern", "New or spiking log pattern"
    NEW_ISSUE = "new_issue", "New error issue"
    ISSUE_REGRESSION = "issue_regression", "Error issue regressed"
    ISSUE_UNIGNORED = "issue_unignored", "Error issue unignored"
    ISSUE_EVENTS = "issue_events", "Events of error issues"


class Op(models.TextChoices):
    GT = ">", ">"
    GE = ">=", ">="
    LT = "<", "<"
    LE = "<=", "<="
    EQ = "==", "=="
    NE = "!=", "!="


class Priority(models.TextChoices):
    P1 = "P1", "P1 (critical)"
    P2 = "P2", "P2 (high)"
    P3 = "P3", "P3 (moderate)"
    P4 = "P4", "P4 (low)"


class MissingMode(models.TextChoices):
    """What an evaluation without data (or one that failed) means for the instance."""

    FIRING = "firing", "Treat as firing"
    NORMAL = "normal", "Treat as normal"
    KEEP_LAST = "keep_last", "Keep the last state"


class State(models.TextChoices):
    NORMAL = "normal", "Normal"
    PENDING = "pending", "Pending"
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"  # was firing, now quiet: behaves as normal
    ACKNOWLEDGED = "acknowledged", "Acknowledged"  # only as the `to_state` of a transition


class Health(models.TextChoices):
    OK = "ok", "OK"
    NO_DATA = "no_data", "No data"
    ERROR = "error", "Error"


MIN_INTERVAL_SECONDS = 10
DEFAULT_INTERVAL_SECONDS = 60


class Policy(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_policies")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The kind's own settings (query, metric, span filter, ...), validated by apps.alerts.specs.
    spec = models.JSONField(default=dict)
    op = models.CharField(max_length=2, choices=Op.choices, default=Op.GT)
    threshold = models.FloatField(default=0.0)
    # Hysteresis: once firing, the instance resolves only when the value no longer passes this.
    resolve_threshold = models.FloatField(null=True, blank=True)
    window_seconds = models.PositiveIntegerField(default=300)
    for_seconds = models.PositiveIntegerField(default=0)
    keep_firing_for_seconds = models.PositiveIntegerField(default=0)
    interval_seconds = models.PositiveIntegerField(default=DEFAULT_INTERVAL_SECONDS)
    no_data = models.CharField(max_length=10, choices=MissingMode.choices, default=MissingMode.KEEP_LAST)
    on_error = models.CharField(max_length=10, choices=MissingMode.choices, default=MissingMode.KEEP_LAST)
    # A flapping instance notifies again once it has not changed state for this long.
    flap_stable_seconds = models.PositiveIntegerField(default=600)
    priority = models.CharField(max_length=2, choices=Priority.choices, default=Priority.P3)
    runbook_url = models.URLField(max_length=500, blank=True, default="")
    labels = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Scheduling (apps.alerts.scheduler): the next slot, and the claim of a worker evaluating it.
    next_due_at = models.DateTimeField(default=timezone.now)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    claim_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_evaluated_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, default="", editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "policies"
        indexes = [
            # The beat tick's query: enabled policies whose slot has come.
            models.Index(fields=["next_due_at"], condition=models.Q(enabled=True), name="alerts_policy_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(interval_seconds__gte=MIN_INTERVAL_SECONDS),
                name="alerts_policy_interval_min",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def snapshot(self) -> dict[str, Any]:
        """The policy as the audit log records it (before/after a change)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "spec": self.spec,
            "op": self.op,
            "threshold": self.threshold,
            "resolve_threshold": self.resolve_threshold,
            "window_seconds": self.window_seconds,
            "for_seconds": self.for_seconds,
            "keep_firing_for_seconds": self.keep_firing_for_seconds,
            "interval_seconds": self.interval_seconds,
            "no_data": self.no_data,
            "on_error": self.on_error,
            "flap_stable_seconds": self.flap_stable_seconds,
            "priority": self.priority,
            "runbook_url": self.runbook_url,
            "labels": self.labels,
            "enabled": self.enabled,
            "description": self.description,
        }


class AlertInstance(models.Model):
    """One group of a policy (one service, one label set; `{}` without group_by) and its state."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="instances")
    labels = models.JSONField(default=dict)
    labels_key = models.CharField(max_length=1000)  # canonical JSON of labels, for the unique key
    state = models.CharField(max_length=12, choices=State.choices, default=State.NORMAL)
    health = models.CharField(max_length=10, choices=Health.choices, default=Health.OK)
    since = models.DateTimeField(default=timezone.now)  # in this state since
    pending_since = models.DateTimeField(null=True, blank=True)
    last_breach_at = models.DateTimeField(null=True, blank=True)
    quiet_since = models.DateTimeField(null=True, blank=True)  # keep_firing_for runs from here
    last_value = models.FloatField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    # Flapping: 1 for each of the last evaluations (at most 20) that changed the state, else 0.
    recent_changes = models.JSONField(default=list)
    is_flapping = models.BooleanField(default=False)
    last_change_at = models.DateTimeField(null=True, blank=True)
    # The state the last notifiable transition announced; a flapping instance that settles on a
    # different state gets one catching-up transition.
    notified_state = models.CharField(max_length=12, choices=State.choices, default=State.NORMAL)
    incident = models.ForeignKey(
        "Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # the open incident while firing

    class Meta:
        constraints = [models.UniqueConstraint("policy", "labels_key", name="alerts_instance_unique_group")]

    def __str__(self) -> str:
        return f"{self.policy} {self.labels_key}"

    @property
    def is_acknowledged(self) -> bool:
        return self.incident is not None and self.incident.acknowledged_at is not None


class IncidentState(models.TextChoices):
    FIRING = "firing", "Firing"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Incident(models.Model):
    """One firing episode of one alert instance."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="incidents")
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="incidents")
    instance = models.ForeignKey(AlertInstance, on_delete=models.CASCADE, related_name="incidents")
    state = models.CharField(max_length=12, choices=IncidentState.choices, default=IncidentState.FIRING)
    title = models.CharField(max_length=300)
    priority = models.CharField(max_length=2, choices=Priority.choices)
    labels = models.JSONField(default=dict)
    opened_at = models.DateTimeField()
    opened_value = models.FloatField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # None with resolved_at set: resolved by the evaluator

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["project", "state", "-opened_at"], name="alerts_incident_list")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class Transition(models.Model):
    """Immutable: one state change of an instance. The notification outbox (see __init__)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="transitions")
    instance = models.ForeignKey(AlertInstance, on_delete=models.CASCADE, related_name="transitions")
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="transitions"
    )
    at = models.DateTimeField()
    from_state = models.CharField(max_length=12, choices=State.choices)
    to_state = models.CharField(max_length=12, choices=State.choices)
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    labels = models.JSONField(default=dict)  # policy labels merged with the group labels
    health = models.CharField(max_length=10, choices=Health.choices, default=Health.OK)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # who acknowledged / resolved by hand; None for the evaluator
    # False while the instance flaps: kept for the history, held back from notification.
    notify = models.BooleanField(default=True)
    is_flapping = models.BooleanField(default=False)
    # Left for the notifier (issue 17): stamped when the transition has been handed to delivery.
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The notifier's outbox scan: pending rows only, in commit order.
            models.Index(
                fields=["id"],
                condition=models.Q(notify=True, notified_at__isnull=True),
                name="alerts_transition_outbox",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state} at {self.at:%Y-%m-%d %H:%M:%S}"


class ScheduleKind(models.TextChoices):
    PERIOD = "period", "Every period"
    CRON = "cron", "Cron expression"


class PingKind(models.TextChoices):
    SUCCESS = "success", "Success"
    START = "start", "Start"
    FAIL = "fail", "Fail"


class Heartbeat(models.Model):
    """A monitor pinged by a job (`/ping/<uuid>`); its policy (kind heartbeat) fires when it is late,
    or failed. The uuid is the secret of the ping URL."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="heartbeats")
    name = models.CharField(max_length=200)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    schedule_kind = models.CharField(max_length=10, choices=ScheduleKind.choices, default=ScheduleKind.PERIOD)
    period_seconds = models.PositiveIntegerField(default=86400)
    grace_seconds = models.PositiveIntegerField(default=3600)
    cron = models.CharField(max_length=100, blank=True, default="")
    tz = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(default=timezone.now)
    last_ping_at = models.DateTimeField(null=True, blank=True)
    last_ping_kind = models.CharField(max_length=10, choices=PingKind.choices, blank=True, default="")
    last_start_at = models.DateTimeField(null=True, blank=True)
    policy = models.OneToOneField(Policy, on_delete=models.CASCADE, related_name="heartbeat")
    # A Sentry cron monitor's `monitor_slug`: check-ins sent to the project's DSN find it by this.
    slug = models.CharField(max_length=64, blank=True, default="")
    # How long a started run may take before it is down; None: the grace time (Healthchecks' rule).
    max_runtime_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "slug"], condition=~models.Q(slug=""), name="alerts_heartbeat_unique_slug"
            )
        ]

    def __str__(self) -> str:
        return self.name
