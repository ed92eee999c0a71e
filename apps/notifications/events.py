"""Events of other apps for an organization's webhook channels (e.g. billing's `usage.threshold`).

Not alerts: no routes, grouping or silences. Each event becomes one Delivery per enabled webhook
channel of the organization, in the caller's transaction, so an event decided once is filed
once (the caller claims it, e.g. with a unique row); the sender then delivers and retries it like
an alert notice, with the same `webhook-id` on every attempt. The body is Standard Webhooks'
`{"type", "timestamp", "data"}` with the caller's data as is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.notifications.models import Channel, ChannelKind, Delivery


def organization_event_enqueue(
    organization_id: int, event_type: str, title: str, data: dict[str, Any], now: datetime | None = None
) -> int:
    """File `event_type` (e.g. "usage.threshold", at most 24 characters) with `data` for every
    enabled webhook channel of the organization; `title` is what the channel pages list. Returns
    how many deliveries were made. Call inside the transaction that decides the event."""
    now = now or timezone.now()
    channels = Channel.objects.filter(organization_id=organization_id, kind=ChannelKind.WEBHOOK, enabled=True)
    payload = {"type": event_type, "timestamp": now.isoformat(), "title": title, "data": data}
    deliveries = Delivery.objects.bulk_create(
        Delivery(organization_id=organization_id, channel=channel, event=event_type, payload=payload)
        for channel in channels
    )
    if deliveries:
        from apps.notifications.tasks import send_deliveries

        transaction.on_commit(send_deliveries.delay)
    return len(deliveries)
