"""The default rule pack: the policies every new project starts with, each an ordinary policy
(visible, editable, deletable), marked with the label `pack=default`.

Rules on telemetry a project does not send stay quiet: every rule treats no data as normal, and
metric rules on names the project lacks have no series, hence no data. Latency comes in both
OpenTelemetry conventions: `http.server.request.duration` (seconds, current) and
`http.server.duration` (milliseconds, older SDKs). CPU is "idle below 20 %" per host, which is
"busy above 80 %" in the host-metrics receiver's terms (system.cpu.utilization has a state label).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps import audit
from apps.alerts.models import MissingMode, Policy
from apps.alerts.services import check_policy, check_room_for_policies
from apps.projects.models import Project

PACK_LABEL = {"pack": "default"}
FIVE_MINUTES, TEN_MINUTES = 300, 600


def _rule(
    name: str, kind: str, spec: dict[str, Any], op: str, threshold: float, priority: str, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "spec": spec,
        "op": op,
        "threshold": threshold,
        "priority": priority,
        "window_seconds": extra.pop("window_seconds", FIVE_MINUTES),
        "for_seconds": extra.pop("for_seconds", FIVE_MINUTES),
        "no_data": MissingMode.NORMAL,
        "labels": dict(PACK_LABEL),
        **extra,
    }


def _latency(metric: str, unit: str, threshold: float, priority: str, scale: float) -> dict[str, Any]:
    return _rule(
        f"p95 latency > {threshold:g} s ({metric})",
        "metric",
        {"name": metric, "agg": "p95", "group_by": ["service.name"]},
        ">",
        threshold * scale,
        priority,
        description=f"95th percentile of {metric} ({unit}) per service over 5 minutes.",
    )


DEFAULT_RULES: list[dict[str, Any]] = [
    _rule(
        "Log error ratio > 10 %",
        "log_ratio",
        {"query": "level>=error", "group_by": "service"},
        ">",
        10.0,
        "P1",
        description="Share of error and fatal logs per service over 5 minutes.",
    ),
    _rule(
        "Span error ratio > 5 %",
        "span",
        {"measure": "error_ratio", "group_by": "service"},
        ">",
        5.0,
        "P2",
        description="Share of spans with an error status per service over 5 minutes.",
    ),
    _latency("http.server.request.duration", "seconds", 5, "P1", 1.0),
    _latency("http.server.request.duration", "seconds", 2, "P3", 1.0),
    _latency("http.server.duration", "milliseconds", 5, "P1", 1000.0),
    _latency("http.server.duration", "milliseconds", 2, "P3", 1000.0),
    _rule(
        "CPU > 80 %",
        "metric",
        {
            "name": "system.cpu.utilization",
            "agg": "avg",
            "labels": {"state": ["idle"]},
            "group_by": ["host.name"],
        },
        "<",
        0.2,
        "P3",
        description="Idle CPU below 20 % (busy above 80 %) per host over 5 minutes.",
    ),
    _rule(
        "Memory > 90 %",
        "metric",
        {
            "name": "system.memory.utilization",
            "agg": "avg",
            "labels": {"state": ["used"]},
            "group_by": ["host.name"],
        },
        ">",
        0.9,
        "P2",
    ),
    _rule(
        "Disk > 85 %",
        "metric",
        {"name": "system.filesystem.utilization", "agg": "max", "group_by": ["host.name", "mountpoint"]},
        ">",
        0.85,
        "P2",
        window_seconds=TEN_MINUTES,
        for_seconds=TEN_MINUTES,
    ),
    _rule(
        "Service stopped sending data",
        "absence",
        {"source": "any", "group_by": "service", "lookback": "24h"},
        "<",
        1.0,
        "P1",
        for_seconds=0,  # the window is the 5 minutes of silence
        description="A service seen in the last 24 h sent no logs and no spans for 5 minutes.",
    ),
]


def rule_pack_add(project: Project, actor: Any = None) -> list[Policy]:
    """Add the default rules the project lacks (by name, among its pack rules): safe to run again.

    The pack's policies count toward the plan's alert policies per project like any other, and
    the pack goes in whole or not at all: if the plan has no room for every missing rule, nothing
    is added and billing's LimitReached says how many it needs (never a pack cut short unnoticed).
    The seeded plans all have room for the pack (README, "Plans, quotas and usage")."""
    existing = set(
        Policy.objects.filter(project=project, labels__pack="default").values_list("name", flat=True)
    )
    created = []
    with transaction.atomic():
        missing = sum(1 for rule in DEFAULT_RULES if rule["name"] not in existing)
        if missing:
            check_room_for_policies(project, missing)
        for rule in DEFAULT_RULES:
            if rule["name"] in existing:
                continue
            policy = Policy(
                project=project, **{**rule, "spec": dict(rule["spec"]), "labels": dict(rule["labels"])}
            )
            check_policy(policy)
            created.append(policy)
        Policy.objects.bulk_create(created)
        if created:
            # One event for the pack, not one per rule: the names say what was added.
            audit.record(
                "alerts.rulepack.add",
                actor=actor,
                organization=project.organization,
                target=project,
                after={"policies": [p.name for p in created]},
            )
    return created
