"""Who acts and from where, as a plain value: what services need of a request and nothing more.

Services take an `Actor` instead of the `HttpRequest`, so a view, an API view (whose DRF request
is not an HttpRequest), the admin, a management command and a test all call them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apps.ops.middleware import client_ip

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request

    from apps.accounts.models import User


@dataclass(frozen=True)
class Actor:
    user: User | None = None  # None: anonymous or the system (a command, a task)
    ip: str | None = None
    user_agent: str = ""
    base_url: str = ""  # scheme and host the request came to, for links in emails; "" = relative

    @classmethod
    def from_request(cls, request: HttpRequest | Request, *, links: bool = True) -> Actor:
        """`links=False` skips the base URL (it asks the request for its host, which an audit
        record of a refused sign-in should never depend on)."""
        user: Any = getattr(request, "user", None)
        return cls(
            user=user if user is not None and user.is_authenticated else None,
            ip=client_ip(request),  # type: ignore[arg-type]  # a DRF Request proxies META
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            base_url=request.build_absolute_uri("/").rstrip("/") if links else "",
        )

    def url(self, path: str) -> str:
        """An absolute URL for `path` when the actor came through a request, else the path."""
        return self.base_url + path
