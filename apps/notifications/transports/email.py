"""Email through Django's backend (EMAIL_URL): plain text and HTML from templates, where Django's
autoescaping covers every interpolated value (labels and log lines are tenant data)."""

from __future__ import annotations

import smtplib
import time

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string

from apps.notifications.models import Channel, Delivery
from apps.notifications.outbound import Answer
from apps.projects.models import Membership, Role

ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def recipients(channel: Channel) -> list[str]:
    """The channel's addresses, or every member of its role or higher, read at send time."""
    if channel.config.get("addresses"):
        return list(channel.config["addresses"])
    role = channel.config.get("role", Role.ADMIN)
    roles = [r for r, rank in ROLE_RANK.items() if rank >= ROLE_RANK.get(role, 2)]
    return sorted(
        Membership.objects.filter(organization_id=channel.organization_id, role__in=roles)
        .filter(user__is_active=True)
        .values_list("user__email", flat=True)
    )


def send_mail(to: list[str], subject: str, template: str, context: dict[str, object]) -> Answer:
    """Text + HTML mail; the Answer of an SMTP exchange (250 ↔ accepted)."""
    started = time.monotonic()
    message = EmailMultiAlternatives(
        subject=subject.replace("\n", " ")[:200],
        body=render_to_string(f"notifications/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    message.attach_alternative(render_to_string(f"notifications/{template}.html", context), "text/html")
    took = lambda: int((time.monotonic() - started) * 1000)  # noqa: E731
    try:
        with get_connection(timeout=15) as connection:
            sent = connection.send_messages([message])
    except smtplib.SMTPRecipientsRefused as exc:
        return Answer(
            None, error=f"Recipients refused: {exc.recipients}"[:500], permanent=True, duration_ms=took()
        )
    except smtplib.SMTPResponseException as exc:
        # 5xx SMTP replies are permanent, 4xx temporary (RFC 5321 §4.2.1).
        return Answer(
            None,
            error=f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:500],
            permanent=exc.smtp_code >= 500,
            duration_ms=took(),
        )
    except (OSError, smtplib.SMTPException) as exc:
        return Answer(None, error=f"{type(exc).__name__}: {exc}"[:500], duration_ms=took())
    return Answer(
        None, excerpt=f"accepted for {len(to)} recipient(s)", accepted=bool(sent), duration_ms=took()
    )


class EmailTransport:
    def send(self, channel: Channel, delivery: Delivery) -> Answer:
        to = recipients(channel)
        if not to:
            return Answer(None, error="The channel has no recipients.", permanent=True)
        notice = delivery.payload
        return send_mail(to, notice["title"], "notice", {"notice": notice})
