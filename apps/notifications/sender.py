"""Sending deliveries: claim one due row, send it, record the attempt, decide what comes next.

Rules (issue 17 §5):
* attempts at about 0 s, 5 s, 30 s, 2 m, 10 m, 30 m, 1 h after the first, each delay ±10 %
  jitter (so a receiver that was down is not hit by every queued message in the same second),
  and never sooner than the receiver's Retry-After;
* 2xx (PagerDuty's 202 too) is delivered; 410 Gone disables the channel (the Slack app or the
  webhook was removed: retrying forever helps nobody); any other 4xx (except 408 and 429) is a
  permanent failure; 408, 429, 5xx, timeouts and connection errors are retried;
* after the last failure the organization's owners are emailed and the channel shows a warning.
The claim is `SELECT … FOR UPDATE SKIP LOCKED` followed by a lease (`state=sending`,
`lease_until`), committed before the network call: no row lock is held across a 15 s send, and
a worker that dies mid-send leaves a lease that expires, after which the same message (same
message_id, same dedup_key) is claimed and sent again.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.notifications.models import Attempt, Channel, ChannelKind, Delivery, DeliveryState
from apps.notifications.outbound import Answer
from apps.notifications.transports import transport_for

# Delays before attempts 2..7 (attempt 1 goes at once).
RETRY_DELAYS = [5, 30, 120, 600, 1800, 3600]
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.1
MAX_RETRY_AFTER = timedelta(hours=1)
# Longer than a send can take (15 s timeout, plus DNS and rendering).
LEASE = timedelta(seconds=60)
# Per channel: (messages, per seconds). Slack's incoming webhooks allow about one a second;
# PagerDuty's Events API about 120 a minute per routing key.
RATE_LIMITS: dict[str, tuple[int, int]] = {ChannelKind.SLACK: (1, 1), ChannelKind.PAGERDUTY: (120, 60)}


def due(now: datetime) -> Q:
    return Q(state=DeliveryState.PENDING, next_attempt_at__lte=now) | Q(
        state=DeliveryState.SENDING, lease_until__lte=now
    )


def delivery_claim(now: datetime, delivery_id: int | None = None) -> Delivery | None:
    """The oldest due delivery (or the given one, if due), leased to this worker."""
    with transaction.atomic():
        rows = Delivery.objects.filter(due(now))
        if delivery_id is not None:
            rows = rows.filter(pk=delivery_id)
        delivery = rows.order_by("next_attempt_at", "id").select_for_update(skip_locked=True).first()
        if delivery is None:
            return None
        delivery.state, delivery.lease_until = DeliveryState.SENDING, now + LEASE
        delivery.save(update_fields=["state", "lease_until"])
    return delivery


def retry_delay(attempt: int, retry_after: float | None) -> timedelta:
    """The wait after failed attempt number `attempt` (1-based)."""
    base = RETRY_DELAYS[attempt - 1]
    delay = timedelta(seconds=base * random.uniform(1 - JITTER, 1 + JITTER))  # noqa: S311 (jitter, not a secret)
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return delay


def outcome_of(answer: Answer) -> str:
    if answer.ok:
        return "delivered"
    if answer.status_code == 410:
        return "disabled"
    if answer.permanent:
        return "failed"
    code = answer.status_code
    if code is not None and 300 <= code < 400:
        return "failed"  # redirects are not followed (outbound.py); the URL needs fixing
    if code is not None and 400 <= code < 500 and code not in (408, 429):
        return "failed"
    return "retry"


def rate_limited_until(channel: Channel, now: datetime) -> datetime | None:
    """When the channel may send again, if its kind's rate is used up in this window (a fixed
    window in the shared cache, so every worker counts against the same limit); else None."""
    limit = RATE_LIMITS.get(channel.kind)
    if limit is None:
        return None
    count, seconds = limit
    window = int(now.timestamp()) // seconds
    key = f"notifications:rate:{channel.pk}:{window}"
    cache.add(key, 0, timeout=seconds * 2)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr: a fresh window
        cache.add(key, 1, timeout=seconds * 2)
        used = 1
    if used <= count:
        return None
    return datetime.fromtimestamp((window + 1) * seconds, tz=now.tzinfo)


def delivery_postpone(delivery: Delivery, until: datetime) -> None:
    """Back to the queue without an attempt: the channel's rate limit queues, it never drops."""
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING, attempts=delivery.attempts).update(
        state=DeliveryState.PENDING, lease_until=None, next_attempt_at=until
    )


def delivery_send(delivery: Delivery, now: datetime | None = None, rate_limit: bool = True) -> str:
    """Send a claimed delivery once and record it; the outcome (delivered/retry/failed/disabled,
    or postponed by the channel's rate limit)."""
    channel = Channel.objects.select_related("organization").get(pk=delivery.channel_id)
    started = now or timezone.now()
    until = rate_limited_until(channel, started) if channel.enabled and rate_limit else None
    if until is not None:
        delivery_postpone(delivery, until)
        return "postponed"
    if not channel.enabled:
        answer = Answer(None, error="The channel is disabled.", permanent=True)
    else:
        answer = transport_for(channel).send(channel, delivery)
    return delivery_record(delivery, channel, answer, started)


def delivery_record(delivery: Delivery, channel: Channel, answer: Answer, started: datetime) -> str:
    outcome = outcome_of(answer)
    number = delivery.attempts + 1
    if outcome == "retry" and number >= MAX_ATTEMPTS:
        outcome = "failed"
    error = answer.error or ("" if answer.ok else f"HTTP {answer.status_code}")
    with transaction.atomic():
        # Our lease still holds? A stalled worker whose lease expired and whose row was sent by
        # another meanwhile must not overwrite that outcome.
        current = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if current.state != DeliveryState.SENDING or current.attempts != delivery.attempts:
            return "superseded"
        Attempt.objects.create(
            delivery=current,
            number=number,
            at=started,
            duration_ms=answer.duration_ms,
            status_code=answer.status_code,
            response_excerpt=answer.excerpt,
            error=error,
            outcome=outcome,
        )
        current.attempts, current.lease_until, current.last_error = number, None, error
        if outcome == "delivered":
            current.state, current.delivered_at = DeliveryState.DELIVERED, timezone.now()
        elif outcome == "retry":
            current.state = DeliveryState.PENDING
            current.next_attempt_at = timezone.now() + retry_delay(number, answer.retry_after)
        else:
            current.state = DeliveryState.FAILED
        current.save(
            update_fields=[
                "attempts",
                "lease_until",
                "last_error",
                "state",
                "delivered_at",
                "next_attempt_at",
            ]
        )
        if outcome == "disabled":
            from apps.notifications.channels import channel_disable

            channel_disable(channel, f"The receiver answered 410 Gone ({timezone.now():%Y-%m-%d %H:%M} UTC).")
        elif outcome == "failed":
            from apps.notifications.channels import channel_warn

            channel_warn(channel, current)
    delivery.attempts, delivery.state = current.attempts, current.state
    return outcome


def send_due(limit: int = 100, now: datetime | None = None) -> int:
    """Claim and send due deliveries one by one, at most `limit`; how many were sent."""
    sent = 0
    while sent < limit:
        delivery = delivery_claim(now or timezone.now())
        if delivery is None:
            break
        if delivery_send(delivery) != "postponed":
            sent += 1
    return sent
