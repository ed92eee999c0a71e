from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from apps import audit
from apps.accounts.models import User
from apps.projects.models import Organization
from apps.projects.services import ActionRefused, organization_with_owner


def user_signup(
    email: str, password: str, organization_name: str | None, request: HttpRequest | None = None
) -> tuple[User, Organization | None]:
    """Create the account and, unless joining by invitation, the organization it owns: one audit event."""
    try:
        with transaction.atomic():
            user = User.objects.create_user(email.strip().lower(), password)
            organization = organization_with_owner(user, organization_name) if organization_name else None
            audit.record(
                "user.signup",
                request=request,
                actor=user,
                organization=organization,
                target=user,
                after={"email": user.email, "organization": organization.name if organization else None},
            )
    except IntegrityError:
        # Two sign-ups racing for one address: the unique index decides, the loser gets a clear message.
        raise ActionRefused("An account with this email already exists. Sign in instead.") from None
    return user, organization
