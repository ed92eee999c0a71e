"""Login and password-reset throttling, counted in Redis (the cache).

Sign-in failures are counted three ways:
  * per (client IP, email) and per IP: a hard limit for the window (LOGIN_THROTTLE_*);
  * per account, from any IP: from the LOGIN_BACKOFF_AFTER-th failure on, every further attempt on
    that email waits 2, 4, 8, … seconds (at most LOGIN_BACKOFF_MAX_SECONDS) after the last failure, so
    guesses spread over many addresses get slower and slower (the per-IP limits cannot see them);
    the owner gets one notice email when the backoff starts.
A per-account limit that applied to everyone would let anybody lock a user out by typing wrong
passwords for them. So, as OWASP's "device cookie" scheme does, a browser in which the user has
signed in before carries a signed cookie naming that account; its attempts skip the account
backoff (the per (IP, email) limit still applies to them), and its failures do not feed it.

Only failures count, so a user who types their password right is never slowed down; a success
clears the per (IP, email) counter. If Redis is down we let logins through (fail open) rather than
lock everybody out, and log it.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest

logger = logging.getLogger(__name__)

DEVICE_COOKIE = "vigil_device"
DEVICE_COOKIE_MAX_AGE = 365 * 86400
_DEVICE_SALT = "vigil.accounts.device"
ACCOUNT_WINDOW_SECONDS = 24 * 3600  # the account counter forgets a day after the last failure


def _digest(*parts: str | None) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _normal(email: str) -> str:
    return email.strip().lower()


def _keys(ip: str | None, email: str) -> tuple[str, str]:
    return f"login-fail:acct:{_digest(ip, _normal(email))}", f"login-fail:ip:{ip}"


def _account_keys(email: str) -> tuple[str, str, str]:
    user = _digest(_normal(email))
    return f"login-fail:user:{user}", f"login-wait:user:{user}", f"login-notice:user:{user}"


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


def account_wait(email: str) -> int:
    """Seconds before this account may be tried again from an unknown browser (0: now)."""
    _, wait_key, _ = _account_keys(email)
    try:
        until = cache.get(wait_key)
    except Exception:
        logger.warning("login throttle: cache unavailable, not slowing down")
        return 0
    return max(0, int(until - time.time() + 0.999)) if until else 0


def backoff_seconds(failures: int) -> int:
    """The wait after the `failures`-th failure on one account: 2 s after the LOGIN_BACKOFF_AFTER-th,
    doubling with each further one."""
    over = failures - settings.LOGIN_BACKOFF_AFTER + 1
    if over <= 0:
        return 0
    return int(min(2 ** min(over, 32), settings.LOGIN_BACKOFF_MAX_SECONDS))


def note_failure(ip: str | None, email: str, known_device: bool = False) -> bool:
    """Count a failed sign-in. True when it starts the account's backoff: time to tell its owner
    (once per burst)."""
    window = settings.LOGIN_THROTTLE_WINDOW_SECONDS
    try:
        for key in _keys(ip, email):
            # add() starts the window on the first failure; incr() never extends it.
            cache.add(key, 0, timeout=window)
            cache.incr(key)
        if known_device:
            return False
        count_key, wait_key, notice_key = _account_keys(email)
        cache.add(count_key, 0, timeout=ACCOUNT_WINDOW_SECONDS)
        failures = cache.incr(count_key)
        cache.touch(count_key, ACCOUNT_WINDOW_SECONDS)  # a slow, steady attack stays slowed down
        wait = backoff_seconds(failures)
        if not wait:
            return False
        # The deadline is the value; the TTL only tidies up (with room for a slow clock check).
        cache.set(wait_key, time.time() + wait, timeout=wait + 60)
        return bool(cache.add(notice_key, 1, timeout=ACCOUNT_WINDOW_SECONDS))
    except Exception:
        logger.warning("login throttle: cache unavailable, failure not counted")
        return False


def note_success(ip: str | None, email: str) -> None:
    # The account-wide counter stays: the owner signing in from their own browser in the middle of
    # an attack must not hand the attacker a fresh set of free guesses. It lapses a day after the
    # last failure.
    try:
        cache.delete(_keys(ip, email)[0])
    except Exception:
        logger.warning("login throttle: cache unavailable")


def device_token(email: str) -> str:
    return signing.dumps(_digest(_normal(email)), salt=_DEVICE_SALT, compress=False)


def is_known_device(request: HttpRequest | None, email: str) -> bool:
    """Has the user signed in to this account in this browser before (the signed cookie says so)?"""
    token = request.COOKIES.get(DEVICE_COOKIE, "") if request is not None else ""
    if not token or not email:
        return False
    try:
        signed = signing.loads(token, salt=_DEVICE_SALT, max_age=DEVICE_COOKIE_MAX_AGE)
    except signing.BadSignature:
        return False
    return bool(signed == _digest(_normal(email)))


def password_reset_allowed(ip: str | None, email: str) -> bool:
    """Count one reset request; False once the IP or the address has had its share this hour.
    Every address counts, known or not, so the answer tells nothing about who has an account."""
    limits = [
        (f"pwreset:ip:{ip}", settings.PASSWORD_RESET_PER_IP),
        (f"pwreset:email:{_digest(_normal(email))}", settings.PASSWORD_RESET_PER_EMAIL),
    ]
    try:
        for key, _ in limits:
            cache.add(key, 0, timeout=3600)
        counts = [cache.incr(key) for key, _ in limits]
    except Exception:
        logger.warning("password reset throttle: cache unavailable, not throttling")
        return True
    return all(count <= limit for count, (_, limit) in zip(counts, limits, strict=True))
