"""Notification channels, routes, aggregation groups, and the durable delivery outbox.

Design note — from a transition to a receiver, nothing lost, nothing sent twice with another id.
* apps.alerts commits every state change as a Transition row (its outbox). `dispatch.py` claims
  un-notified transitions with `FOR UPDATE SKIP LOCKED` and, in one transaction, routes each to
  its channels, files it into the (channel, policy) NoticeGroup (Alertmanager's aggregation
  group) or — PagerDuty, which groups by dedup_key itself — straight into a Delivery, and stamps
  the transition notified. Either all of that commits or none of it.
* A NoticeGroup is flushed when its `flush_at` comes (group_wait after the first change,
  group_interval after the last message, repeat_interval for a reminder): one Delivery listing
  every instance that changed, rendered then and stored, so retries send identical content.
* `sender.py` claims one due Delivery at a time (SKIP LOCKED, then a lease), sends it outside
  any transaction, and records the Attempt with the outcome. A worker killed between claim and
  record leaves a lease that expires; the next claim sends the same `message_id` again
  (at-least-once; receivers deduplicate on webhook-id / dedup_key).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.notifications.encryption import EncryptedJSONField, EncryptedTextField
from apps.projects.models import Organization, Project, Role


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack"
    PAGERDUTY = "pagerduty", "PagerDuty"
    WEBHOOK = "webhook", "Webhook"


PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
WEBHOOK_SECRET_PREFIX = "whsec_"


def new_webhook_secret() -> str:
    """`whsec_` + base64 of 24 random bytes, the format the standardwebhooks libraries read."""
    import base64

    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


class Channel(models.Model):
    """Where an organization's notifications go. `config` per kind (validated in channels.py):
    email {"addresses": [...]} or {"role": "admin"}; slack {"url"}; pagerduty {"routing_key",
    "events_url"}; webhook {"url"}."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=ChannelKind.choices)
    # Encrypted at rest, as the secrets below (apps.notifications.encryption): Slack webhook URLs
    # and PagerDuty routing keys are credentials.
    config = EncryptedJSONField(default=dict, blank=True)
    # Webhooks: the signing secret, and the one it replaced, still signed with until the
    # receiver has switched (Standard Webhooks: several signatures in one header).
    secret = EncryptedTextField(blank=True, default="", editable=False)
    previous_secret = EncryptedTextField(blank=True, default="", editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    is_default = models.BooleanField(default=False, help_text="Receives alerts no route matches.")
    send_resolved = models.BooleanField(default=True)
    enabled = models.BooleanField(default=True)
    # Shown on the channel list: why it was disabled (410) or that a message could not be delivered.
    warning = models.TextField(blank=True, default="", editable=False)
    warning_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def snapshot(self) -> dict[str, Any]:
        """The channel as the audit log records it; secrets never."""
        return {
            "name": self.name,
            "kind": self.kind,
            "config": {k: ("…" if k == "routing_key" else v) for k, v in self.config.items()},
            "is_default": self.is_default,
            "send_resolved": self.send_resolved,
            "enabled": self.enabled,
        }

    def signing_secrets(self, now: Any = None) -> list[str]:
        now = now or timezone.now()
        keys = [self.secret] if self.secret else []
        if self.previous_secret and self.previous_secret_until and self.previous_secret_until > now:
            keys.append(self.previous_secret)
        return keys


class Route(models.Model):
    """Which alerts a channel receives: every condition set must hold (an empty one matches all).
    A route with a policy is how a policy names its channels. Timing fields override the defaults
    (grouping.py) for the groups this route feeds."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="alert_routes")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="routes")
    policy = models.ForeignKey(
        "alerts.Policy", null=True, blank=True, on_delete=models.CASCADE, related_name="routes"
    )
    priorities = models.JSONField(default=list, blank=True)  # e.g. ["P1", "P2"]; [] = any
    labels = models.JSONField(default=dict, blank=True)  # all must equal the alert's labels
    group_wait_seconds = models.PositiveIntegerField(null=True, blank=True)
    group_interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    repeat_interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"→ {self.channel}"


class NoticeGroup(models.Model):
    """Alertmanager's aggregation group: the changes of one policy's instances bound for one
    channel, sent together. `pending` holds transition ids not yet announced."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="groups")
    policy = models.ForeignKey("alerts.Policy", on_delete=models.CASCADE, related_name="+")
    pending = models.JSONField(default=list)
    announced = models.JSONField(default=list)  # instance ids told firing here and not yet resolved
    flush_at = models.DateTimeField(null=True, blank=True)
    repeat_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    group_wait_seconds = models.PositiveIntegerField(default=30)
    group_interval_seconds = models.PositiveIntegerField(default=300)
    repeat_interval_seconds = models.PositiveIntegerField(default=4 * 3600)

    class Meta:
        constraints = [models.UniqueConstraint("channel", "policy", name="notifications_group_unique")]
        indexes = [
            models.Index(
                fields=["flush_at"], condition=models.Q(flush_at__isnull=False), name="notif_group_flush"
            ),
            models.Index(
                fields=["repeat_at"], condition=models.Q(repeat_at__isnull=False), name="notif_group_repeat"
            ),
        ]

    def __str__(self) -> str:
        return f"group of policy {self.policy_id} → channel {self.channel_id}"


class Event(models.TextChoices):
    FIRING = "alert.firing", "Firing"
    ACKNOWLEDGED = "alert.acknowledged", "Acknowledged"
    RESOLVED = "alert.resolved", "Resolved"
    TEST = "test", "Test"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its next attempt (or its first)
    SENDING = "sending", "Sending"  # claimed by a worker until lease_until
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"  # permanent error, or retries exhausted


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class Delivery(models.Model):
    """One message to one channel; the same `message_id` on every attempt."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(
        "alerts.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event = models.CharField(max_length=24, choices=Event.choices)
    message_id = models.CharField(max_length=40, unique=True, default=new_message_id)
    dedup_key = models.CharField(max_length=255, blank=True, default="")  # PagerDuty
    payload = models.JSONField(default=dict)  # the rendered notice (messages.Notice)
    transition_ids = models.JSONField(default=list)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            # The sender's claim: due pending rows, and sending rows whose lease ran out.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state__in=["pending", "sending"]),
                name="notif_delivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.channel_id} ({self.state})"

    @property
    def last_attempt(self) -> Attempt | None:
        attempts = list(self.attempt_log.all())  # prefetched by the pages that list deliveries
        return attempts[-1] if attempts else None


class Attempt(models.Model):
    """One try at sending a Delivery: what the receiver answered, or what went wrong."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    outcome = models.CharField(max_length=12)  # delivered / retry / failed / disabled

    class Meta:
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.outcome}"


class ActionToken(models.Model):
    """A one-click link's single use: its nonce is recorded when used (links.py)."""

    nonce = models.CharField(max_length=32, unique=True)
    used_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.nonce


EMAIL_ROLES = [Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER]


class Silence(models.Model):
    """Alerts whose labels match every matcher are not notified between starts_at and ends_at
    (they still fire and show in the UI). Matchers: [{"name", "op": "=" | "!=" | "=~" | "!~",
    "value"}], regexes in RE2 (linear time: a tenant's pattern cannot stall the dispatcher)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="silences")
    policy = models.ForeignKey(
        "alerts.Policy", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )  # None: any policy of the project
    matchers = models.JSONField(default=list, blank=True)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    comment = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-ends_at", "-id"]
        indexes = [models.Index(fields=["project", "ends_at"], name="notif_silence_active")]

    def __str__(self) -> str:
        return f"silence until {self.ends_at:%Y-%m-%d %H:%M}"


class MaintenanceWindow(models.Model):
    """A recurring quiet time: on the given weekdays (0 = Monday) from start_time to end_time in
    its IANA time zone; an end before the start crosses midnight into the next day. Alerts of the
    project (optionally matching `matchers`, as silences) are not notified while it is active."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="maintenance_windows")
    name = models.CharField(max_length=100)
    weekdays = models.JSONField(default=list)  # e.g. [5, 6] for the weekend
    start_time = models.TimeField()
    end_time = models.TimeField()
    tz = models.CharField(max_length=64, default="UTC")
    matchers = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name
