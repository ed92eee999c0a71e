"""Append-only audit trail of security-relevant changes.

Rows are never updated or deleted: the model and its queryset refuse it, and a database
trigger (migration 0002) refuses it for anything that bypasses the ORM. Each event is hash-chained
to the previous one of its organization (apps.audit.chain), so a change made by someone who can
get past both (a database superuser) shows up in `manage.py audit verify`. Organization and
actor are stored as ids plus a readable snapshot, not foreign keys, so that deleting an
organization or a user keeps the trail of what they did.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone


class AuditImmutableError(Exception):
    pass


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditImmutableError("audit events are append-only")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise AuditImmutableError("audit events are append-only")

    def for_organization(self, organization_id: int) -> AuditEventQuerySet:
        return self.filter(organization_id=organization_id)


class AuditEvent(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    organization_id = models.BigIntegerField(null=True, blank=True)
    organization_name = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=64)
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    actor_email = models.CharField(max_length=254, blank=True)
    actor_key_id = models.BigIntegerField(null=True, blank=True)
    actor_key_prefix = models.CharField(max_length=32, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    # The hash chain of the organization's events (apps.audit.chain): tamper evidence.
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    event_hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The audit page: one organization, newest first, optionally one action.
            models.Index(fields=["organization_id", "-id"], name="audit_org_newest"),
            models.Index(fields=["organization_id", "action", "-id"], name="audit_org_action_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditImmutableError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditImmutableError("audit events are append-only")

    @property
    def actor(self) -> str:
        return self.actor_email or self.actor_key_prefix or "system"
