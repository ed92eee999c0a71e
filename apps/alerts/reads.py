"""The telemetry reads of policy evaluations, one at a time or grouped for a batch.

Design note — why a batch reads twice through its evaluators.
Every kind's evaluator (apps.alerts.evaluators) asks for its telemetry through a `Reads`. Alone
(a preview, one claimed slot), `Reads` calls the telemetry apps' selectors directly. For a batch,
the evaluators first run against a `Recorder`, which answers nothing and notes the log counts,
span statistics and "services seen" they ask for; `Recorder.prefetch` then runs those as a few
grouped statements (apps.logs.selectors.log_counts_many and friends: one per group key and window
for all the batch's projects) and the evaluators run again against the answers. The evaluators
stay written for one policy, and the grouped statements give exactly the answers of the single
ones (tests/alerts/test_batches.py). A read not noted while recording (one that depends on an
earlier answer, as new_pattern's baseline) or whose grouped statement failed is read directly.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from apps.logs import selectors as logs
from apps.logs.query import Node
from apps.metrics import selectors as metrics
from apps.traces import selectors as traces

log = logging.getLogger(__name__)


class Reads:
    """Direct reads: each call is its own statement."""

    def log_counts(
        self, project_id: int, query: Node | None, start: datetime, end: datetime, group_by: str | None = None
    ) -> dict[str, int]:
        return logs.log_counts(project_id, query, start, end, group_by)

    def log_services_seen(self, project_id: int, since: datetime) -> list[str]:
        return logs.log_services_seen(project_id, since)

    def log_pattern_counts(
        self,
        project_id: int,
        query: Node | None,
        start: datetime,
        end: datetime,
        only: list[str] | None = None,
    ) -> dict[str, tuple[int, str]]:
        return logs.log_pattern_counts(project_id, query, start, end, only=only)

    def span_window_stats(
        self,
        project_id: int,
        start: datetime,
        end: datetime,
        service: str = "",
        name: str = "",
        percentile: str | None = None,
        group_by: str | None = None,
    ) -> dict[str, traces.SpanWindow]:
        return traces.span_window_stats(project_id, start, end, service, name, percentile, group_by)

    def span_services_seen(self, project_id: int, since: datetime) -> list[str]:
        return traces.span_services_seen(project_id, since)

    def metric_window_values(
        self,
        project_id: int,
        name: str,
        label_filters: dict[str, list[str]],
        agg: str,
        start: datetime,
        end: datetime,
        group_by: tuple[str, ...] = (),
    ) -> list[metrics.WindowValue]:
        return metrics.metric_window_values(project_id, name, label_filters, agg, start, end, group_by)


class Recorder(Reads):
    """Notes the groupable reads and answers every read with nothing (no statement at all)."""

    def __init__(self) -> None:
        self.counts: dict[logs.LogCountRequest, None] = {}  # a dict keeps order and drops repeats
        self.stats: dict[traces.SpanWindowRequest, None] = {}
        self.log_seen: dict[datetime, set[int]] = {}
        self.span_seen: dict[datetime, set[int]] = {}

    def log_counts(
        self, project_id: int, query: Node | None, start: datetime, end: datetime, group_by: str | None = None
    ) -> dict[str, int]:
        self.counts[logs.LogCountRequest(project_id, query, start, end, group_by)] = None
        return {}

    def log_services_seen(self, project_id: int, since: datetime) -> list[str]:
        self.log_seen.setdefault(since, set()).add(project_id)
        return []

    def log_pattern_counts(
        self,
        project_id: int,
        query: Node | None,
        start: datetime,
        end: datetime,
        only: list[str] | None = None,
    ) -> dict[str, tuple[int, str]]:
        return {}

    def span_window_stats(
        self,
        project_id: int,
        start: datetime,
        end: datetime,
        service: str = "",
        name: str = "",
        percentile: str | None = None,
        group_by: str | None = None,
    ) -> dict[str, traces.SpanWindow]:
        request = traces.SpanWindowRequest(project_id, start, end, service, name, percentile, group_by)
        self.stats[request] = None
        return {}

    def span_services_seen(self, project_id: int, since: datetime) -> list[str]:
        self.span_seen.setdefault(since, set()).add(project_id)
        return []

    def metric_window_values(
        self,
        project_id: int,
        name: str,
        label_filters: dict[str, list[str]],
        agg: str,
        start: datetime,
        end: datetime,
        group_by: tuple[str, ...] = (),
    ) -> list[metrics.WindowValue]:
        return []

    def prefetch(self) -> Prefetched:
        """Run the noted reads grouped; the answers, for the evaluators' second pass."""
        answers = Prefetched()
        counts = list(self.counts)
        if counts and (found := _grouped(logs.log_counts_many, counts)) is not None:
            answers.counts = dict(zip(counts, found, strict=True))
        stats = list(self.stats)
        if stats and (windows := _grouped(traces.span_window_stats_many, stats)) is not None:
            answers.stats = dict(zip(stats, windows, strict=True))
        for since, project_ids in self.log_seen.items():
            if (seen := _grouped(logs.log_services_seen_many, sorted(project_ids), since)) is not None:
                answers.log_seen.update({(p, since): services for p, services in seen.items()})
        for since, project_ids in self.span_seen.items():
            if (seen := _grouped(traces.span_services_seen_many, sorted(project_ids), since)) is not None:
                answers.span_seen.update({(p, since): services for p, services in seen.items()})
        return answers


def _grouped(read: Any, *args: Any) -> Any:
    """The grouped read's answer, or None when it failed: its requests are then read one by one,
    so a failure is the error of the policy that caused it, not of the whole batch."""
    # Inside a transaction (tests, a caller's atomic block) a failed statement would abort it:
    # a savepoint confines the failure. Outside, each read is its own autocommit statement.
    try:
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            return read(*args)
    except Exception:
        # Visible in the worker's log: a grouped read that keeps failing costs its round trips.
        log.warning("grouped telemetry read %s failed; reading one by one", read.__name__, exc_info=True)
        return None


class Prefetched(Reads):
    """Answers from the grouped statements; direct reads for anything else."""

    def __init__(self) -> None:
        self.counts: dict[logs.LogCountRequest, dict[str, int]] = {}
        self.stats: dict[traces.SpanWindowRequest, dict[str, traces.SpanWindow]] = {}
        self.log_seen: dict[tuple[int, datetime], list[str]] = {}
        self.span_seen: dict[tuple[int, datetime], list[str]] = {}

    def log_counts(
        self, project_id: int, query: Node | None, start: datetime, end: datetime, group_by: str | None = None
    ) -> dict[str, int]:
        found = self.counts.get(logs.LogCountRequest(project_id, query, start, end, group_by))
        return (
            dict(found) if found is not None else super().log_counts(project_id, query, start, end, group_by)
        )

    def log_services_seen(self, project_id: int, since: datetime) -> list[str]:
        found = self.log_seen.get((project_id, since))
        return list(found) if found is not None else super().log_services_seen(project_id, since)

    def span_window_stats(
        self,
        project_id: int,
        start: datetime,
        end: datetime,
        service: str = "",
        name: str = "",
        percentile: str | None = None,
        group_by: str | None = None,
    ) -> dict[str, traces.SpanWindow]:
        request = traces.SpanWindowRequest(project_id, start, end, service, name, percentile, group_by)
        found = self.stats.get(request)
        if found is not None:
            return dict(found)
        return super().span_window_stats(project_id, start, end, service, name, percentile, group_by)

    def span_services_seen(self, project_id: int, since: datetime) -> list[str]:
        found = self.span_seen.get((project_id, since))
        return list(found) if found is not None else super().span_services_seen(project_id, since)
