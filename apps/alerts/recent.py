"""Recent values of alert instances, for the sparklines of the policy list.

Why Redis and not a table: the evaluator measures every policy every interval (10,000 policies a
minute in the benchmark), and a row per sample would be the evaluator's largest write, kept only
for a 120-pixel line. Here each evaluated batch costs one pipelined round trip (LPUSH, LTRIM and
EXPIRE per policy), the list holds the last KEEP samples of each policy, and it expires with a
policy that stops being evaluated. Losing it (Redis flushed) loses only the sparklines, which
refill as evaluations go on; a Redis failure never fails an evaluation.

Entries: `{"t": epoch seconds, "v": {labels_key: value or null}}`, newest first in Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
import redis

from apps.storage.redis import shared_client

logger = logging.getLogger(__name__)

KEEP = 60  # samples per policy: an hour of a one-minute policy
GROUPS_PER_SAMPLE = 100  # a policy grouped by 5,000 pods keeps the first hundred groups' values
TTL_SECONDS = 2 * 86400

_redis = shared_client  # one client per process and URL: apps.storage.redis


def values_key(policy_id: int) -> str:
    return f"vigil:alerts:recent:{int(policy_id)}"


def note_samples(measured: dict[int, dict[str, tuple[Any, Any]]], now: datetime) -> None:
    """Remember the values of one evaluated batch ({policy id: {labels_key: (labels, Sample)}})."""
    try:
        pipe = _redis().pipeline(transaction=False)
        at = int(now.timestamp())
        for policy_id, samples in measured.items():
            values = {key: sample.value for key, (_, sample) in list(samples.items())[:GROUPS_PER_SAMPLE]}
            key = values_key(policy_id)
            pipe.lpush(key, orjson.dumps({"t": at, "v": values}))
            pipe.ltrim(key, 0, KEEP - 1)
            pipe.expire(key, TTL_SECONDS)
        pipe.execute()
    except (redis.RedisError, OSError):
        logger.warning("alerts: recent values not kept (Redis unavailable)", exc_info=True)


def recent_values(policy_ids: Iterable[int]) -> dict[int, dict[str, list[list[Any]]]]:
    """{policy id: {labels_key: [[t, value], ...] oldest first}}; empty when Redis is unavailable."""
    ids = list(policy_ids)
    if not ids:
        return {}
    try:
        pipe = _redis().pipeline(transaction=False)
        for policy_id in ids:
            pipe.lrange(values_key(policy_id), 0, KEEP - 1)
        answers = pipe.execute()
    except (redis.RedisError, OSError):
        logger.warning("alerts: recent values unavailable (Redis)", exc_info=True)
        return {}
    found: dict[int, dict[str, list[list[Any]]]] = {}
    for policy_id, entries in zip(ids, answers, strict=True):
        series: dict[str, list[list[Any]]] = {}
        for raw in reversed(entries):
            entry = orjson.loads(raw)
            for key, value in entry["v"].items():
                series.setdefault(key, []).append([entry["t"], value])
        found[policy_id] = series
    return found
