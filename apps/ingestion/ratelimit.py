"""Per-key token bucket in Redis (one EVALSHA per request), failing open.

Tokens are events: a key may ingest INGEST_RATE_PER_SECOND events per second on average with
bursts up to INGEST_RATE_BURST. Ingestion's own endpoints take their tokens inside billing's
admission script (apps.billing.quota: same bucket key, same Lua, no round trip of its own);
this script is for buckets outside it (apps.errors' categories that are not metered, through
apps.ingestion.transport.consume_bucket). The bucket's Lua, the client and its circuit breaker
are apps.storage.redis': when Redis is unreachable the request is let through (and logged),
since losing the limiter must not lose data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis
from django.conf import settings

from apps.storage import redis as shared_redis

TOKEN_BUCKET = (
    shared_redis.TAKE_TOKENS
    + """
local wait = take_tokens(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
if wait > 0 then return {0, tostring(wait)} end
return {1, '0'}
"""
)


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int = 0


def bucket_key(key_id: int | str | None) -> str:
    """The bucket of an API key's id (or of a caller's own bucket name)."""
    return f"vigil:ingest:bucket:{key_id}"


def take(bucket: str, rate: float, burst: float, count: int) -> tuple[bool, int]:
    """Take `count` tokens from the bucket at key `bucket` (refilled at `rate` per second up to
    `burst`): (allowed, seconds to wait when not). Redis down or its breaker open: allowed."""
    script = shared_redis.script(TOKEN_BUCKET) if rate > 0 else None
    if script is None:
        return True, 0
    try:
        allowed, wait = script(keys=[bucket], args=[rate, burst, count])
    except redis.RedisError as exc:
        shared_redis.trip(exc, "ingestion failing open")
        return True, 0
    return bool(allowed), max(1, math.ceil(float(wait)))


def consume(key_id: int, events: int) -> RateDecision:
    """Take `events` tokens from the API key's bucket."""
    rate, burst = float(settings.INGEST_RATE_PER_SECOND), float(settings.INGEST_RATE_BURST)
    allowed, retry_after = take(bucket_key(key_id), rate, burst, max(events, 1))
    return RateDecision(allowed, retry_after)
