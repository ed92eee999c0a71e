"""API key authentication, shared by ingestion and the read API.

Hot path design: a key is verified against PostgreSQL at most once per KEY_CACHE_SECONDS
per process; in between, a process-local cache answers. Revocation must still bite at once,
so every revoke bumps a counter in Redis (`KEY_EPOCH`) and each request compares it with the
epoch its cache was filled under — one Redis GET instead of one SQL query. If Redis is
unreachable we fall back to the TTL alone (revocation within KEY_CACHE_SECONDS).

Ingestion makes a Redis round trip per request anyway (billing's admission script), so it folds
the comparison into that one: `authenticate_key_deferred` answers from the cache without the GET
and hands back (KEY_EPOCH, the epoch the cache was read under) for the script to compare first;
when the epoch moved the script admits nothing, and the caller calls `epoch_moved` (the cache
is dropped) and authenticates the key again before admitting it (apps.ingestion.services).
"""

from __future__ import annotations

import base64
import hmac
import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

import redis
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.projects import keyformat
from apps.projects.models import ApiKey
from apps.storage.redis import shared_client

logger = logging.getLogger(__name__)

KEY_CACHE_SECONDS = 5.0
KEY_CACHE_MAX_ENTRIES = 10_000
KEY_EPOCH = "vigil:apikeys:epoch"
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class KeyIdentity:
    """What a request authenticated by key may rely on; deliberately not a model instance."""

    id: int
    project_id: int
    organization_id: int
    scope: str
    prefix: str


Identity = TypeVar("Identity")


class KeyCache(Generic[Identity]):
    """Keys as this process last read them, for KEY_CACHE_SECONDS, and dropped whenever any key
    was revoked anywhere (the Redis epoch). Also for apps.errors' DSN keys (same epoch, since a
    revocation of either kind calls `invalidate_keys`)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, Identity | None]] = {}
        self.epoch: Any = None
        self.lock = threading.Lock()
        _caches.append(self)

    def check_epoch(self) -> None:
        try:
            epoch = shared_client().get(KEY_EPOCH)
        except redis.RedisError:  # Redis down: keep serving from the TTL-bounded cache.
            logger.warning("key cache: redis unavailable, relying on TTL for revocation")
            return
        self.adopt(epoch)

    def adopt(self, epoch: Any) -> None:
        """`epoch` is Redis's now: drop every entry read under another."""
        if epoch != self.epoch:
            with self.lock:
                self.entries.clear()
                self.epoch = epoch

    def get(self, digest: str) -> tuple[bool, Identity | None]:
        entry = self.entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, digest: str, identity: Identity | None) -> None:
        with self.lock:
            if len(self.entries) >= KEY_CACHE_MAX_ENTRIES:
                self.entries.clear()
            self.entries[digest] = (time.monotonic() + KEY_CACHE_SECONDS, identity)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


_caches: list[KeyCache[Any]] = []
_cache = KeyCache[KeyIdentity]()


def publish_revocation() -> None:
    """Tell every process that a key changed: they drop their caches on their next request."""
    try:
        shared_client().incr(KEY_EPOCH)
    except redis.RedisError:
        logger.warning(
            "key cache: could not publish revocation; other processes will notice within %ss",
            KEY_CACHE_SECONDS,
        )


def invalidate_keys() -> None:
    """Make this process and every other one forget cached keys (called on revoke and delete)."""
    for cache in _caches:
        cache.clear()
    publish_revocation()


def _load(secret: str, digest: str) -> KeyIdentity | None:
    prefix = keyformat.public_prefix(secret)
    key = (
        ApiKey.objects.active()
        .filter(prefix=prefix)
        .values(
            "id", "project_id", "project__organization_id", "scope", "prefix", "secret_hash", "last_used_at"
        )
        .first()
    )
    if key is None or not hmac.compare_digest(key["secret_hash"], digest):
        return None
    now = timezone.now()
    if key["last_used_at"] is None or key["last_used_at"] < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key["id"]).update(last_used_at=now)
    return KeyIdentity(
        key["id"], key["project_id"], key["project__organization_id"], key["scope"], key["prefix"]
    )


def authenticate_key(secret: str) -> KeyIdentity | None:
    """Return the active key for `secret`, or None for unknown, malformed or revoked keys."""
    if not keyformat.is_well_formed(secret):
        return None
    digest = keyformat.hash_secret(secret)
    _cache.check_epoch()
    hit, identity = _cache.get(digest)
    if hit:
        return identity
    identity = _load(secret, digest)
    _cache.put(digest, identity)
    return identity


def authenticate_key_deferred(secret: str) -> tuple[KeyIdentity | None, tuple[str, Any]]:
    """`authenticate_key` without asking Redis whether a key was revoked since the cache was
    filled: the key for `secret` (None: unknown, malformed or revoked when cached), and
    (KEY_EPOCH, the epoch the answer was cached under). The caller must have Redis compare the
    two in a round trip of its own before it relies on the key, and when they differ call
    `epoch_moved(epoch now)` and `authenticate_key` again."""
    epoch = _cache.epoch  # read before the entry: a revocation adopted meanwhile makes it differ
    if not keyformat.is_well_formed(secret):
        return None, (KEY_EPOCH, epoch)
    digest = keyformat.hash_secret(secret)
    hit, identity = _cache.get(digest)
    if not hit:
        identity = _load(secret, digest)
        _cache.put(digest, identity)
    return identity, (KEY_EPOCH, epoch)


def epoch_moved(epoch: Any) -> None:
    """The revocation epoch is `epoch` now (a caller's own Redis round trip said so): forget the
    keys cached under another."""
    _cache.adopt(epoch)


def key_from_headers(request: HttpRequest) -> str | None:
    """The raw key from `Authorization: Bearer <key>` or `X-API-Key: <key>`, if any was sent."""
    return key_from_values(request.META.get("HTTP_AUTHORIZATION", ""), request.META.get("HTTP_X_API_KEY", ""))


def key_from_values(authorization: str, api_key: str) -> str | None:
    """key_from_headers for callers that hold the two header values (the ingestion ASGI path).
    Basic auth's password is a key too: Prometheus' remote_write (and many shippers) can only
    send a basic_auth block or a bearer token."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        if scheme.lower() == "basic" and value.strip():
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                return None
            password = decoded.partition(":")[2].strip()
            return password or None
    return api_key.strip() or None


class KeyUser:
    """The `request.user` of a key-authenticated API request. It belongs to no organization."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None
    email = ""

    def __init__(self, key: KeyIdentity) -> None:
        self.key = key

    def __str__(self) -> str:
        return self.key.prefix


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[KeyUser, KeyIdentity] | None:
        secret = key_from_headers(request._request)
        if secret is None:
            return None
        identity = authenticate_key(secret)
        if identity is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        return KeyUser(identity), identity

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="vigil"'
