"""Sentry `attachment` items: small files kept with their event, shown on the issue page.

An attachment belongs to the envelope's event (`event_id` in the envelope header). Kept up to
SENTRY_ATTACHMENT_MAX_BYTES each; a larger one is dropped (the event is kept, the SDK is not
asked to retry: it would send the same bytes again). Minidumps, view hierarchies and the like
are attachments too and are kept the same way, as files. Expired with the events (retention.py's
cutoff, hourly).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection

from apps.billing import retention
from apps.errors.envelope import Item
from apps.errors.models import Attachment, DsnKey, Issue
from apps.errors.selectors import events_of

logger = logging.getLogger(__name__)
BATCH = 1000


def _text(value: Any, limit: int) -> str:
    return value[:limit].replace("\x00", "") if isinstance(value, str) else ""


def attachment_store(key: DsnKey, headers: dict[str, Any], item: Item, received: datetime) -> None:
    try:
        event_id = uuid.UUID(str(headers.get("event_id")))
    except ValueError:
        return  # an attachment of no event has nothing to be shown with
    size = len(item.payload)
    if size > settings.SENTRY_ATTACHMENT_MAX_BYTES:
        logger.info(
            "sentry attachment of %s bytes dropped (cap %s)", size, settings.SENTRY_ATTACHMENT_MAX_BYTES
        )
        return
    Attachment.objects.create(
        project_id=key.project_id,
        event_id=event_id,
        filename=_text(item.headers.get("filename"), 200) or "attachment",
        content_type=_text(item.headers.get("content_type"), 100),
        size=size,
        data=item.payload,
        received=received,
    )


def attachments_of(project_id: int, event_id: uuid.UUID) -> list[Attachment]:
    """The event's attachments without their bytes (the page lists them)."""
    return list(
        Attachment.objects.filter(project_id=project_id, event_id=event_id).defer("data").order_by("id")
    )


def attachment_of_issue(issue: Issue, attachment_id: int) -> Attachment | None:
    """The attachment if it belongs to one of the issue's events (within retention)."""
    attachment = Attachment.objects.filter(project_id=issue.project_id, pk=attachment_id).first()
    if attachment is None or not events_of(issue).filter(event_id=attachment.event_id).exists():
        return None
    return attachment


def delete_expired_attachments(now: datetime) -> int:
    """As events: older than the longest retention of any plan, in batches; safe to run twice."""
    oldest_kept = now - timedelta(days=retention.longest().warn_days)
    deleted = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM errors_attachment WHERE id IN"
                " (SELECT id FROM errors_attachment WHERE received < %s LIMIT %s FOR UPDATE SKIP LOCKED)",
                [oldest_kept, BATCH],
            )
            deleted += cursor.rowcount
            if cursor.rowcount < BATCH:
                return deleted
