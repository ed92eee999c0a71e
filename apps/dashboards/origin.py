"""Cross-site WebSocket hijacking guard: a live socket opens only for a page of this very site.

Browsers send the session cookie with a WebSocket handshake from any page and CSRF tokens do not
apply to it, so the Origin header is the only thing telling our own pages from another site's.
Channels' AllowedHostsOriginValidator compares the Origin's host name only: a page served on
another port of the same host (`http://127.0.0.1:9999`, a dev server on `localhost:3000`) got a
member's live data. Here, as Django's CSRF check does for HTTP, the Origin must equal the site's
own origin — scheme, host and port of the request — or be listed in CSRF_TRUSTED_ORIGINS.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


def parse_origin(value: str) -> Origin | None:
    """(scheme, host, port) with the scheme's default port filled in; None if it is no origin."""
    try:
        parts = urlsplit(value.strip().lower())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return parts.scheme, parts.hostname, port


def site_origin(scope: dict[str, Any]) -> Origin | None:
    """The origin a page of this site has when it opens this socket: the handshake's Host (one of
    ALLOWED_HOSTS) with http, or https when the connection (or the trusted proxy) says so."""
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])
    }
    host = headers.get("host", "")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    secure = scope.get("scheme") in ("wss", "https")
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, expected = proxy_header
        forwarded = headers.get(name.removeprefix("HTTP_").replace("_", "-").lower(), "")
        secure = forwarded.split(",")[0].strip() == expected
    return parse_origin(f"{'https' if secure else 'http'}://{host}")


def is_trusted(origin: Origin) -> bool:
    """An exact entry of CSRF_TRUSTED_ORIGINS, or a `https://*.example.com` one (as Django reads it)."""
    scheme, host, port = origin
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        wildcard = "://*." in entry
        trusted = parse_origin(entry.replace("://*.", "://", 1))
        if trusted is None or trusted[0] != scheme or trusted[2] != port:
            continue
        if host == trusted[1] or (wildcard and is_same_domain(host, "." + trusted[1])):
            return True
    return False


def is_same_site(scope: dict[str, Any]) -> bool:
    origins = [value for name, value in scope.get("headers", []) if name.lower() == b"origin"]
    if len(origins) != 1:
        return False  # a browser sends exactly one; none means no browser page to trust
    origin = parse_origin(origins[0].decode("latin-1"))
    if origin is None:
        return False
    return origin == site_origin(scope) or is_trusted(origin)


def _allowed_hosts() -> list[str]:
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return ["localhost", "127.0.0.1", "[::1]"]  # as Django's own host validation in DEBUG
    return list(settings.ALLOWED_HOSTS)


class SameOriginValidator:
    """ASGI middleware for the websocket protocol: refuse the handshake (HTTP 403) unless
    is_same_site(scope)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not is_same_site(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
