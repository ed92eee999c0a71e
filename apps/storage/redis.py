"""One Redis client per process and URL, its circuit breaker and the Lua scripts registered on it,
for the paths that must not hang on Redis: ingestion's rate limit and billing's meter (one script
call per request), the API keys' and source maps' epochs, alert sparklines.

Design note.
- Why not Django's cache: under ASGI its object is per request context, which opens a new Redis
  connection for every request. redis-py's pool notices a fork by itself.
- Keyed by URL, so that a test or an operator pointing REDIS_URL elsewhere (Redis down) gets a
  client and a breaker of its own: a new URL is a fresh try.
- Short timeouts (TIMEOUT_SECONDS): every caller fails open or falls back when Redis does not
  answer (the limiter lets the request through, the meter counts in the write transaction, the
  caches rely on their TTL), so a hung Redis must cost little more than a refused connection.
- The breaker: a caller whose Redis call failed `trip`s it; for BREAKER_SECONDS `script` and
  `available_client` then answer None and the caller takes its fallback at once, instead of
  paying a connect timeout on every request. After the cool-down the next call tries Redis again
  (half-open): success keeps it closed, another failure trips it for another cool-down.
  `shared_client` ignores the breaker (its callers catch RedisError themselves).
- Scripts: `script(text)` registers a Lua text once per client with redis-py's
  `register_script`: its SHA1 is computed locally and each call is one EVALSHA; the text travels
  only when Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH), then redis-py loads it and
  retries the call.
- TAKE_TOKENS is the token bucket's Lua, one text for every script that rate-limits (the
  per-key limiter of apps.ingestion and billing's admission script) so the two agree on the
  bucket's keys and arithmetic; billing's script keeps a bucket in a Lua table across the
  requests of one call (read once, written once), the limiter takes from it once.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings
from redis.commands.core import Script

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 0.25
BREAKER_SECONDS = 5.0

# The token bucket, in Lua functions every script that rate-limits shares (TAKE_TOKENS):
# - `bucket_read(key, burst, now)`: the bucket hash at `key` as {tokens, ts} (full when missing);
# - `bucket_take(bucket, now, rate, burst, cost)`: refill `bucket` at `rate` per second up to
#   `burst` for the time since its ts, then take `cost` tokens (at most `burst`): 0 when taken,
#   else the seconds to wait (nothing taken) — in the table only, so that a script deciding many
#   requests of one bucket reads it once and writes it once;
# - `bucket_write(key, bucket, rate, burst)`: store it; a bucket left alone expires once it would
#   be full again anyway;
# - `take_tokens(key, rate, burst, cost)`: the three for one request.
# Redis' own clock (TIME, `redis_now()`): web processes with skewed clocks share one bucket
# correctly.
TAKE_TOKENS = """
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function bucket_read(key, burst, now)
  local stored = redis.call('HMGET', key, 'tokens', 'ts')
  return {tonumber(stored[1]) or burst, tonumber(stored[2]) or now}
end
local function bucket_take(bucket, now, rate, burst, cost)
  cost = math.min(cost, burst)
  local tokens = math.min(burst, bucket[1] + math.max(0, now - bucket[2]) * rate)
  local wait = 0
  if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
  bucket[1], bucket[2] = tokens, now
  return wait
end
local function bucket_write(key, bucket, rate, burst)
  redis.call('HSET', key, 'tokens', bucket[1], 'ts', bucket[2])
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
local function take_tokens(key, rate, burst, cost)
  local now = redis_now()
  local bucket = bucket_read(key, burst, now)
  local wait = bucket_take(bucket, now, rate, burst, cost)
  bucket_write(key, bucket, rate, burst)
  return wait
end
"""


class _Connection:
    """The client of one URL, its breaker and the scripts registered on it."""

    __slots__ = ("client", "down_until", "scripts")

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
        self.down_until = 0.0  # monotonic; the breaker is open until then
        self.scripts: dict[str, Script] = {}


_lock = threading.Lock()
_connections: dict[str, _Connection] = {}


def _connection() -> _Connection:
    url = settings.REDIS_URL
    # Lock-free on the hot path: a dict lookup is atomic, and entries are only ever added whole.
    connection = _connections.get(url)
    if connection is None:
        with _lock:
            connection = _connections.get(url)
            if connection is None:
                connection = _connections[url] = _Connection(url)
    return connection


def shared_client() -> redis.Redis:
    """The process's client for REDIS_URL, whatever its breaker says."""
    return _connection().client


def available_client() -> redis.Redis | None:
    """The process's client for REDIS_URL, or None while its breaker is open."""
    connection = _connection()
    if time.monotonic() < connection.down_until:
        return None
    return connection.client


def script(text: str) -> Script | None:
    """The Lua `text` registered on the process's client for REDIS_URL (call it with
    `keys=..., args=...`), or None while the client's breaker is open."""
    # Once per ingestion request: the dict lookup inlined, no call to `_connection`.
    connection = _connections.get(settings.REDIS_URL) or _connection()
    if time.monotonic() < connection.down_until:
        return None
    registered = connection.scripts.get(text)
    if registered is None:
        # Under the lock: threads meeting a fresh client at once all get the one Script object.
        with _lock:
            registered = connection.scripts.get(text)
            if registered is None:
                registered = connection.scripts[text] = connection.client.register_script(text)
    return registered


def trip(error: Exception, fallback: str) -> None:
    """A Redis call failed: open the breaker of REDIS_URL's client for BREAKER_SECONDS. `fallback`
    says in the log what callers do meanwhile (e.g. "ingestion: failing open")."""
    logger.warning(
        "redis unavailable: %s for %ss", fallback, BREAKER_SECONDS, extra={"error": str(error)[:200]}
    )
    _connection().down_until = time.monotonic() + BREAKER_SECONDS


def reset() -> None:
    """Forget every client, breaker and script (tests; a process's state after REDIS_URL moved)."""
    with _lock:
        _connections.clear()
