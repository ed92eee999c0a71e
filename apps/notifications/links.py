"""Signed one-click links in notifications: acknowledge an incident, silence it for an hour.

The token is Django's TimestampSigner over (incident, action, nonce) with a salt of its own:
valid 24 h, bound to one incident and one action, useless elsewhere. Following the link only
shows a confirmation page (mail scanners fetch links; they must not acknowledge anything); the
POST of that page acts, once: the nonce is then recorded and a second use is refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.core import signing
from django.db import IntegrityError, transaction

from apps.notifications.models import ActionToken

ACK = "ack"
SILENCE = "silence"
ACTIONS = (ACK, SILENCE)
MAX_AGE_SECONDS = 24 * 3600
SALT = "vigil.notifications.action-link"


class BadLink(Exception):
    """Expired, tampered with, or already used."""


@dataclass(frozen=True)
class ActionLink:
    incident_id: int
    action: str
    nonce: str


def action_token(incident_id: int, action: str) -> str:
    return signing.TimestampSigner(salt=SALT).sign(f"{incident_id}:{action}:{secrets.token_hex(12)}")


def action_path(incident_id: int, action: str) -> str:
    return f"/notify/action/{action_token(incident_id, action)}"


def read_token(token: str) -> ActionLink:
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(token, max_age=MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise BadLink("This link has expired (links work for 24 hours).") from None
    except signing.BadSignature:
        raise BadLink("This link is not valid.") from None
    incident_id, action, nonce = value.split(":", 2)
    if action not in ACTIONS:
        raise BadLink("This link is not valid.")
    if ActionToken.objects.filter(nonce=nonce).exists():
        raise BadLink("This link has already been used.")
    return ActionLink(int(incident_id), action, nonce)


def use_token(link: ActionLink) -> None:
    """Record the single use, inside the caller's transaction; BadLink if it was used meanwhile."""
    try:
        with transaction.atomic():
            ActionToken.objects.create(nonce=link.nonce)
    except IntegrityError:
        raise BadLink("This link has already been used.") from None
