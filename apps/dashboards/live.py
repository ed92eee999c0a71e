"""Live fan-out: `announce(project_id, kind, payload)` tells the project's open dashboards that
telemetry arrived. Best effort by design — it runs after the data is committed, and a slow or
dead Redis must never turn a stored batch into an error:

- throttled per (project, kind) to one message per THROTTLE_SECONDS; counts that arrive in
  between are added to the next message, so dashboards still see totals;
- a failure trips a breaker for BREAKER_SECONDS, during which announcements are skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

THROTTLE_SECONDS = 1.0
BREAKER_SECONDS = 5.0

_pending: dict[tuple[int, str], list[float]] = {}  # (project, kind) -> [count waiting, last sent]
_lock = threading.Lock()
_down_until = 0.0


def group_name(project_id: int) -> str:
    return f"project-{int(project_id)}-live"


def announce(project_id: int, kind: str, payload: dict[str, Any]) -> bool:
    """Publish (or fold into the next publication) a compact summary; True if sent now."""
    global _down_until
    now = time.monotonic()
    with _lock:
        state = _pending.setdefault((project_id, kind), [0, 0.0])
        state[0] += int(payload.get("count", 0))
        if now - state[1] < THROTTLE_SECONDS or now < _down_until:
            return False
        count, state[0], state[1] = state[0], 0, now
    message = {"type": "live.event", "kind": kind, "payload": {**payload, "count": count}}
    try:
        layer = get_channel_layer()
        if layer is None:
            return False
        async_to_sync(layer.group_send)(group_name(project_id), message)
    except Exception as exc:  # any transport error: skip, never fail the caller
        _down_until = time.monotonic() + BREAKER_SECONDS
        logger.warning(
            "live: announcement skipped, channel layer unavailable", extra={"error": str(exc)[:200]}
        )
        return False
    return True


def reset() -> None:
    """Forget throttling state (tests)."""
    global _down_until
    with _lock:
        _pending.clear()
        _down_until = 0.0
