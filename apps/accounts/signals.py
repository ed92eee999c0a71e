from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps import audit
from apps.accounts.models import User


def audit_login(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    audit.record("user.login", request=request, actor=user, target=user)


def audit_login_failure(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django has already masked the password in `credentials`; keep only the attempted address.
    email = str(credentials.get("username") or credentials.get("email") or "")[:254]
    known = User.objects.filter(email__iexact=email).first() if email else None
    audit.record(
        "user.login_failed", request=request, target=known, target_repr=email, extra={"email": email}
    )
