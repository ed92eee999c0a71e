"""Writes of channels: validated, audited in the same transaction; the webhook secret shown once.

`actor` is the user acting (None for the system), `key` the API key it came through, if any.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from apps import audit
from apps.notifications import announce, messages, outbound
from apps.notifications.models import (
    PAGERDUTY_EVENTS_URL,
    Attempt,
    Channel,
    ChannelKind,
    Delivery,
    DeliveryState,
    Event,
    Route,
    new_webhook_secret,
)
from apps.projects.models import Organization, Role

# How long the replaced secret keeps signing after a rotation: receivers switch within this.
ROTATION_OVERLAP = timedelta(hours=24)
MAX_ADDRESSES = 50


class ChannelError(Exception):
    """Invalid channel fields: `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("Invalid channel.")
        self.errors = errors


def _check_url(url: Any, field: str, errors: dict[str, str]) -> str:
    if not isinstance(url, str) or not url.strip():
        errors[field] = "is required"
        return ""
    url = url.strip()
    if len(url) > 2000:
        errors[field] = "is longer than 2000 characters"
        return url
    try:
        outbound.check_url(url)
    except outbound.RefusedAddress as exc:
        errors[field] = str(exc)
    return url


def clean_config(kind: str, config: Any) -> dict[str, Any]:
    """The config of a channel kind, normalised; ChannelError naming each bad field."""
    errors: dict[str, str] = {}
    if not isinstance(config, dict):
        raise ChannelError({"config": "must be an object"})
    clean: dict[str, Any] = {}
    if kind == ChannelKind.EMAIL:
        addresses, role = config.get("addresses"), config.get("role")
        if addresses:
            if not isinstance(addresses, list) or len(addresses) > MAX_ADDRESSES:
                errors["addresses"] = f"must be a list of at most {MAX_ADDRESSES} email addresses"
            else:
                for address in addresses:
                    try:
                        validate_email(address)
                    except (ValidationError, TypeError):
                        errors["addresses"] = f"{str(address)[:100]!r} is not an email address"
                clean["addresses"] = [a.strip() for a in addresses if isinstance(a, str)]
        elif role:
            if role not in Role.values:
                errors["role"] = f"must be one of {', '.join(Role.values)}"
            clean["role"] = role
        else:
            errors["addresses"] = "give a list of addresses, or a role whose members receive the mail"
    elif kind in (ChannelKind.SLACK, ChannelKind.WEBHOOK):
        clean["url"] = _check_url(config.get("url"), "url", errors)
    elif kind == ChannelKind.PAGERDUTY:
        key = config.get("routing_key")
        if not isinstance(key, str) or not 1 <= len(key.strip()) <= 100:
            errors["routing_key"] = "is required (the integration key of a PagerDuty service, Events API v2)"
        else:
            clean["routing_key"] = key.strip()
        events_url = config.get("events_url") or PAGERDUTY_EVENTS_URL
        # PagerDuty's own endpoint is ours to trust (and saving must not depend on resolving it).
        clean["events_url"] = (
            events_url if events_url == PAGERDUTY_EVENTS_URL else _check_url(events_url, "events_url", errors)
        )
    else:
        errors["kind"] = f"must be one of {', '.join(ChannelKind.values)}"
    if errors:
        raise ChannelError(errors)
    return clean


def check_channel(channel: Channel) -> None:
    errors: dict[str, str] = {}
    if not channel.name or not channel.name.strip():
        errors["name"] = "is required"
    try:
        channel.config = clean_config(channel.kind, channel.config)
    except ChannelError as exc:
        errors.update(exc.errors)
    if errors:
        raise ChannelError(errors)


def channel_create(
    organization: Organization, fields: dict[str, Any], actor: Any, key: Any = None
) -> Channel:
    """A new channel; for webhooks its `secret` is set (the caller shows it once)."""
    channel = Channel(
        organization=organization, created_by=actor if getattr(actor, "pk", None) else None, **fields
    )
    check_channel(channel)
    if channel.kind == ChannelKind.WEBHOOK:
        channel.secret = new_webhook_secret()
    with transaction.atomic():
        channel.save()
        audit.record(
            "notifications.channel.create",
            actor=actor,
            key=key,
            organization=organization,
            target=channel,
            after=channel.snapshot(),
        )
    return channel


def channel_update(channel: Channel, fields: dict[str, Any], actor: Any, key: Any = None) -> Channel:
    before = channel.snapshot()
    for name, value in fields.items():
        setattr(channel, name, value)
    check_channel(channel)
    channel.updated_at = timezone.now()
    if fields.get("enabled"):
        channel.warning, channel.warning_at = "", None  # re-enabled by an admin: the warning is read
    with transaction.atomic():
        channel.save()
        after = channel.snapshot()
        changed = [name for name in after if after[name] != before[name]]
        audit.record(
            "notifications.channel.change",
            actor=actor,
            key=key,
            organization=channel.organization,
            target=channel,
            before={name: before[name] for name in changed},
            after={name: after[name] for name in changed},
        )
    return channel


def channel_delete(channel: Channel, actor: Any, key: Any = None) -> None:
    with transaction.atomic():
        audit.record(
            "notifications.channel.delete",
            actor=actor,
            key=key,
            organization=channel.organization,
            target=channel,
            before=channel.snapshot(),
        )
        channel.delete()


def channel_rotate_secret(channel: Channel, actor: Any, key: Any = None) -> str:
    """A new webhook secret; the old one keeps signing for ROTATION_OVERLAP (both signatures sent)."""
    if channel.kind != ChannelKind.WEBHOOK:
        raise ChannelError({"kind": "only webhook channels have a signing secret"})
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        channel.previous_secret = channel.secret
        channel.previous_secret_until = timezone.now() + ROTATION_OVERLAP
        channel.secret = new_webhook_secret()
        channel.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
        audit.record(
            "notifications.channel.rotate_secret",
            actor=actor,
            key=key,
            organization=channel.organization,
            target=channel,
        )
    return channel.secret


def channel_test(channel: Channel, actor: Any) -> Attempt:
    """Send a clearly marked test message now and return the receiver's answer. The delivery is
    recorded like any other (the delivery log shows it) but is never retried."""
    from apps.notifications import sender

    delivery = Delivery.objects.create(
        organization_id=channel.organization_id,
        channel=channel,
        event=Event.TEST,
        payload=messages.test_notice(channel.name, channel.organization),
        state=DeliveryState.SENDING,
        lease_until=timezone.now() + sender.LEASE,
        attempts=sender.MAX_ATTEMPTS - 1,  # one attempt only: the admin is watching
    )
    sender.delivery_send(delivery, rate_limit=False)  # the admin is waiting for this answer
    return Attempt.objects.filter(delivery=delivery).latest("number")


def channel_disable(channel: Channel, reason: str) -> None:
    Channel.objects.filter(pk=channel.pk).update(enabled=False, warning=reason, warning_at=timezone.now())
    announce.channel_trouble_on_commit(channel)  # shown at once on open channel lists and Alerts tabs
    audit.record(
        "notifications.channel.disable",
        organization=channel.organization,
        target=channel,
        extra={"reason": reason},
    )


def channel_warn(channel: Channel, delivery: Delivery) -> None:
    """The last attempt failed: a warning on the channel and a mail to the organization's owners
    (after commit, and not for test messages, whose answer the admin is looking at)."""
    warning = f"A message could not be delivered after {delivery.attempts} attempt(s): {delivery.last_error}"
    Channel.objects.filter(pk=channel.pk).update(warning=warning[:1000], warning_at=timezone.now())
    announce.channel_trouble_on_commit(channel)  # shown at once on open channel lists and Alerts tabs
    if delivery.event == Event.TEST:
        return
    from apps.notifications.transports.email import recipients, send_mail

    owners = recipients(Channel(organization_id=channel.organization_id, config={"role": Role.OWNER}))
    if owners:
        subject = f"Vigil could not deliver to the channel {channel.name}"
        context: dict[str, object] = {"channel": channel, "delivery": delivery}
        transaction.on_commit(lambda: send_mail(owners, subject, "delivery_failed", context))


def route_snapshot(route: Route) -> dict[str, Any]:
    return {
        "channel": route.channel_id,
        "policy": route.policy_id,
        "priorities": route.priorities,
        "labels": route.labels,
        "timing": [route.group_wait_seconds, route.group_interval_seconds, route.repeat_interval_seconds],
    }


def route_create(organization: Organization, fields: dict[str, Any], actor: Any, key: Any = None) -> Route:
    with transaction.atomic():
        route = Route.objects.create(organization=organization, **fields)
        audit.record(
            "notifications.route.create",
            actor=actor,
            key=key,
            organization=organization,
            target=route,
            after=route_snapshot(route),
        )
    return route


def route_delete(route: Route, actor: Any, key: Any = None) -> None:
    with transaction.atomic():
        audit.record(
            "notifications.route.delete",
            actor=actor,
            key=key,
            organization=route.organization,
            target=route,
            before=route_snapshot(route),
        )
        route.delete()
