"""Per-key token bucket in Redis (one EVALSHA per request), failing open.

Tokens are events: a key may ingest INGEST_RATE_PER_SECOND events per second on average with
bursts up to INGEST_RATE_BURST. Redis' own clock (TIME) is used so that web processes with
skewed clocks share one bucket correctly. When Redis is unreachable the request is let through
(and logged): losing the limiter must not lose data. A short circuit breaker keeps a dead Redis
from costing a connect timeout on every request.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

BREAKER_SECONDS = 5.0
TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = math.min(tonumber(ARGV[3]), burst)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int = 0


class _Redis:
    """One client per process, with a breaker shared by the limiter and live announcements."""

    def __init__(self) -> None:
        self.script: Any = None  # the token-bucket script, bound to this process's client
        self.down_until = 0.0
        self.lock = threading.Lock()

    def bucket_script(self) -> Any | None:
        """The token-bucket script bound to the client, or None while the breaker is open. One
        object: a thread never sees a client whose script another thread has not made yet."""
        if time.monotonic() < self.down_until:
            return None
        script = self.script
        if script is None:
            with self.lock:
                if self.script is None:
                    client = redis.Redis.from_url(
                        settings.REDIS_URL, socket_timeout=0.25, socket_connect_timeout=0.25
                    )
                    self.script = client.register_script(TOKEN_BUCKET)
                script = self.script
        return script

    def trip(self, error: Exception) -> None:
        logger.warning(
            "ingestion: redis unavailable, failing open for %ss",
            BREAKER_SECONDS,
            extra={"error": str(error)[:200]},
        )
        self.down_until = time.monotonic() + BREAKER_SECONDS

    def reset(self) -> None:
        """Forget the client and the breaker (after REDIS_URL changed, e.g. in tests)."""
        with self.lock:
            self.script = None
            self.down_until = 0.0

    def is_up(self) -> bool:
        return time.monotonic() >= self.down_until


shared_redis = _Redis()


def consume(key_id: int, events: int) -> RateDecision:
    rate = float(settings.INGEST_RATE_PER_SECOND)
    burst = float(settings.INGEST_RATE_BURST)
    script = shared_redis.bucket_script() if rate > 0 else None
    if script is None:
        return RateDecision(True)
    try:
        allowed, wait = script(keys=[f"vigil:ingest:bucket:{key_id}"], args=[rate, burst, max(events, 1)])
    except redis.RedisError as exc:
        shared_redis.trip(exc)
        return RateDecision(True)
    return RateDecision(bool(allowed), max(1, math.ceil(float(wait))))
