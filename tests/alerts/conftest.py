"""Helpers for alert tests: telemetry goes in through the real ingestion endpoints, policies are
made through the services, evaluations run through the scheduler's claim, at times set with
time_machine."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from apps.alerts import scheduler
from apps.alerts.models import Policy, Transition
from apps.alerts.services import policy_create
from apps.dashboards import live
from apps.metrics import storage as metric_storage
from apps.projects.models import Project
from apps.storage import partitions
from tests.logs.conftest import committed_logs_cleanup  # noqa: F401

# Whole minutes, two hours back: data written "now" in a travelled clock stays within retention
# and ingestion's accepted range, and real time never reaches it during a test.
BASE = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    partitions.forget_partitions()
    metric_storage.forget_series()
    live.reset()
    yield


def make_policy(project: Project, kind: str, spec: dict[str, Any], **fields: Any) -> Policy:
    defaults: dict[str, Any] = {"name": f"{kind} policy", "op": ">", "threshold": 0.0, "window_seconds": 300}
    return policy_create(project, {**defaults, **fields, "kind": kind, "spec": spec}, actor=None)


def evaluate(policy: Policy, now: datetime) -> list[tuple[str, str, float | None, dict[str, Any]]]:
    """Make the policy due and run one evaluation at `now`; its transitions as
    (from, to, value, group labels)."""
    Policy.objects.filter(pk=policy.pk).update(next_due_at=now, claim_token=None)
    written = scheduler.evaluate_due(policy.pk, now)
    assert written is not None, "the slot was not claimed"
    return [(t.from_state, t.to_state, t.value, t.instance.labels) for t in written]


def transitions_of(policy: Policy) -> list[tuple[str, str]]:
    return list(Transition.objects.filter(policy=policy).order_by("id").values_list("from_state", "to_state"))


def log(
    minutes_ago: float, now: datetime, message: str = "boom", level: str = "error", **extra: Any
) -> dict[str, Any]:
    return {
        "timestamp": (now - timedelta(minutes=minutes_ago)).isoformat(),
        "level": level,
        "message": message,
        "service": extra.pop("service", "api"),
        "attributes": extra,
    }


def ingest_metrics(key: str, records: list[dict[str, Any]]) -> None:
    response = Client().post(
        "/api/v1/ingest/metrics",
        data=json.dumps(records),
        content_type="application/json",
        headers={"authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.content


def attrs(**values: str) -> list[dict[str, Any]]:
    return [{"key": k, "value": {"stringValue": v}} for k, v in values.items()]


def span(
    start: datetime, duration_ms: float, name: str = "GET /", error: bool = False, n: int = 0
) -> dict[str, Any]:
    start_ns = int(start.timestamp() * 1e9)
    return {
        "traceId": f"{n + 1:032x}",
        "spanId": f"{n + 1:016x}",
        "name": name,
        "kind": 2,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + int(duration_ms * 1e6)),
        "status": {"code": 2 if error else 0},
    }


def ingest_spans(key: str, spans: list[dict[str, Any]], service: str = "checkout") -> None:
    body = {
        "resourceSpans": [
            {"resource": {"attributes": attrs(**{"service.name": service})}, "scopeSpans": [{"spans": spans}]}
        ]
    }
    response = Client().post(
        "/v1/traces", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code == 200, response.content
