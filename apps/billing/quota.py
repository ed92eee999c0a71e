"""Quota checks for ingestion: `check(project, n_events)`.

A permissive default until billing proper lands (plans, subscriptions, usage meter): every
request is allowed. The result type and the exception are the stable interface ingestion uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    reason: str = ""
    retry_after: int | None = None  # seconds; set when waiting helps (e.g. the next billing period)


ALLOWED = QuotaDecision(allowed=True)


class QuotaExceeded(Exception):
    def __init__(self, decision: QuotaDecision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


def check(project_id_or_project: Any, n_events: int) -> QuotaDecision:
    """Whether the project may ingest `n_events` more events now. Never raises."""
    return ALLOWED


def require(project_id_or_project: Any, n_events: int) -> None:
    decision = check(project_id_or_project, n_events)
    if not decision.allowed:
        raise QuotaExceeded(decision)
