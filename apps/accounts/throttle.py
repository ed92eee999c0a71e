"""Login throttling: count failures per (client IP, email) and per IP in Redis.

Only failures count, so a user who types their password right is never slowed down; a
success clears the per-account counter. If Redis is down we let logins through (fail open)
rather than lock everybody out, and log it.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def _keys(ip: str | None, email: str) -> tuple[str, str]:
    account = hashlib.sha256(f"{ip}|{email.strip().lower()}".encode()).hexdigest()[:32]
    return f"login-fail:acct:{account}", f"login-fail:ip:{ip}"


def is_throttled(ip: str | None, email: str) -> bool:
    account_key, ip_key = _keys(ip, email)
    try:
        counts = cache.get_many([account_key, ip_key])
    except Exception:
        logger.warning("login throttle: cache unavailable, not throttling")
        return False
    return (
        counts.get(account_key, 0) >= settings.LOGIN_THROTTLE_PER_ACCOUNT
        or counts.get(ip_key, 0) >= settings.LOGIN_THROTTLE_PER_IP
    )


def note_failure(ip: str | None, email: str) -> None:
    window = settings.LOGIN_THROTTLE_WINDOW_SECONDS
    try:
        for key in _keys(ip, email):
            # add() starts the window on the first failure; incr() never extends it.
            cache.add(key, 0, timeout=window)
            cache.incr(key)
    except Exception:
        logger.warning("login throttle: cache unavailable, failure not counted")


def note_success(ip: str | None, email: str) -> None:
    try:
        cache.delete(_keys(ip, email)[0])
    except Exception:
        logger.warning("login throttle: cache unavailable")
