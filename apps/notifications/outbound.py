"""The one way notifications reach the network over HTTP: `post(url, body, headers)`.

Design note — server-side request forgery. A channel URL is chosen by a tenant, and the request
is made from inside our network, so a URL naming (or *resolving to*) a loopback, private,
link-local or metadata address could read internal services. It is refused twice:
* at save (`check_url`), so the admin sees the error at once;
* at connect time: the connection is made by `GuardedBackend`, which resolves the host itself,
  checks every address it would use, and connects to the checked address — a DNS answer that
  changed since the save (rebinding) cannot slip through, and TLS still verifies the name.
Redirects are never followed (a public URL answering 302 to 169.254.169.254 gets nothing).
`NOTIFY_ALLOW_PRIVATE_ADDRESSES=true` lifts the address rule for local set-ups and tests.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

TIMEOUT_SECONDS = 15.0
EXCERPT_CHARS = 500
USER_AGENT = "Vigil-Notifications/1.0"
# httpx logs every request's URL at INFO; a Slack or webhook URL is a credential.
logging.getLogger("httpx").setLevel(logging.WARNING)
# Cloud metadata endpoints that are not in a private range (AWS IPv6, Alibaba).
METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}


class RefusedAddress(Exception):
    """The URL is not allowed as a notification target."""


def is_forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in METADATA_ADDRESSES
        or ip in ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, not "private" in Python
    )


def private_addresses_allowed() -> bool:
    return bool(getattr(settings, "NOTIFY_ALLOW_PRIVATE_ADDRESSES", False))


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedAddress(f"The host {host} cannot be resolved.") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses of `host` we may connect to; RefusedAddress if any is forbidden (a host
    with one public and one private address is refused: we cannot choose for the resolver)."""
    addresses = resolve(host, port)
    if not private_addresses_allowed():
        for address in addresses:
            if is_forbidden_address(address):
                raise RefusedAddress(
                    f"{host} resolves to {address}, a loopback, private, link-local or metadata address."
                )
    return addresses


def check_url(url: str) -> None:
    """For saving a channel: an http(s) URL whose host resolves only to public addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedAddress("The URL must start with http:// or https:// and name a host.")
    if parts.username or parts.password:
        raise RefusedAddress("The URL must not carry a user name or password.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RefusedAddress("The URL's port is not a number from 1 to 65535.") from exc
    checked_addresses(parts.hostname, port)


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses checked just now."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = checked_addresses(host, port)
        except RefusedAddress as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"Cannot connect to {host}.")


def _client() -> httpx.Client:
    transport = httpx.HTTPTransport(retries=0)
    # httpx has no public hook for the network backend; its pool takes one (httpcore ≥ 1.0).
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(), network_backend=GuardedBackend(), keepalive_expiry=30.0
    )
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment: it would connect for us, unchecked
        headers={"User-Agent": USER_AGENT},
    )


_shared: httpx.Client | None = None
_shared_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """One client per process: building the TLS context costs up to a second on a busy machine,
    and kept-alive connections spare a handshake per message. Reuse is safe: every new connection
    still goes through GuardedBackend."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = _client()
        return _shared


@dataclass(frozen=True)
class Answer:
    """What came back: a status (None when no answer), an excerpt of the body, and the error."""

    status_code: int | None
    excerpt: str = ""
    error: str = ""
    retry_after: float | None = None
    duration_ms: int = 0
    accepted: bool | None = None  # for non-HTTP transports (SMTP): accepted or not, no status
    permanent: bool = False  # for non-HTTP transports: retrying cannot help

    @property
    def ok(self) -> bool:
        if self.accepted is not None:
            return self.accepted
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST once, never raising for network trouble: the Answer says what happened."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        check_url(url)
        response = shared_client().post(url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except RefusedAddress as exc:
        return Answer(None, error=str(exc), duration_ms=took())
    except httpx.TimeoutException:
        return Answer(None, error=f"No answer within {TIMEOUT_SECONDS:.0f} s.", duration_ms=took())
    except httpx.HTTPError as exc:
        return Answer(None, error=f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS], duration_ms=took())
    excerpt = response.text[:EXCERPT_CHARS]
    error = ""
    if 300 <= response.status_code < 400:
        error = f"Redirect to {response.headers.get('location', '?')} not followed."
    return Answer(
        response.status_code,
        excerpt,
        error,
        retry_after_seconds(response.headers.get("retry-after")),
        took(),
    )
