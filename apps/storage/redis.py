"""One Redis client per process and URL, with short timeouts, for paths that must not hang on
Redis (ingestion's key and source-map epochs, alert sparklines).

Why not Django's cache: under ASGI its object is per request context, which opens a new Redis
connection for every request. Keyed by URL so that a test overriding REDIS_URL (Redis down) gets
a client of its own instead of the one made earlier. redis-py's pool notices a fork by itself.
"""

from __future__ import annotations

import threading

import redis
from django.conf import settings

TIMEOUT_SECONDS = 0.5

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def shared_client() -> redis.Redis:
    url = settings.REDIS_URL
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(
                url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
            )
        return client
