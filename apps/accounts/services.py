from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse

from apps import audit
from apps.accounts.models import User
from apps.audit import Actor
from apps.projects.models import Organization
from apps.projects.services import ActionRefused, organization_with_owner

logger = logging.getLogger(__name__)


def user_signup(
    email: str, password: str, organization_name: str | None, *, by: Actor
) -> tuple[User, Organization | None]:
    """Create the account and, unless joining by invitation, the organization it owns: one audit event."""
    try:
        with transaction.atomic():
            user = User.objects.create_user(email.strip().lower(), password)
            organization = organization_with_owner(user, organization_name) if organization_name else None
            audit.record(
                "user.signup",
                by=by,
                actor=user,
                organization=organization,
                target=user,
                after={"email": user.email, "organization": organization.name if organization else None},
            )
    except IntegrityError:
        # Two sign-ups racing for one address: the unique index decides, the loser gets a clear message.
        raise ActionRefused("An account with this email already exists. Sign in instead.") from None
    return user, organization


def password_change(user: User, new_password: str, request: HttpRequest) -> None:
    """The signed-in user's own password; this session stays signed in, every other one ends (the
    session hash changes), and the change is in the audit log."""
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit.record("user.password_change", request=request, actor=user, target=user)
    update_session_auth_hash(request, user)


def login_burst_notify(email: str, request: HttpRequest | None) -> None:
    """Tell the owner of an account that its sign-in is being slowed down by repeated failures.
    Sent once per burst (apps.accounts.throttle decides); an unknown address gets nothing."""
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        return
    audit.record(
        "user.login_burst", request=request, target=user, extra={"failures": settings.LOGIN_BACKOFF_AFTER}
    )
    reset = reverse("accounts:password-reset")
    reset_url = request.build_absolute_uri(reset) if request is not None else reset
    body = (
        f"Someone has failed to sign in to your Vigil account ({user.email}) "
        f"{settings.LOGIN_BACKOFF_AFTER} times in a row, from one or more addresses.\n\n"
        "If it was you, nothing is wrong: sign in again from a browser you have used before, or "
        f"reset your password: {reset_url}\n\n"
        "If it was not you, your account is safe as long as your password is strong: further attempts "
        "from unknown browsers are slowed down. Consider changing your password from your profile."
    )
    try:
        send_mail("Failed sign-ins on your Vigil account", body, settings.DEFAULT_FROM_EMAIL, [user.email])
    except Exception:
        logger.exception("could not send the failed sign-in notice", extra={"user_id": user.pk})
