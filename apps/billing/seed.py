"""The plans every deployment starts with (seeded by migration 0002; limits in the README,
"Plans and quotas"). Empty limit = no limit; empty retention = the RETENTION_* default."""

from __future__ import annotations

from typing import Any

PLANS: list[dict[str, Any]] = [
    {
        "slug": "free",
        "name": "Free",
        "events_per_month": 1_000_000,
        "overage": "block",
        "seats": 5,
        "projects": 5,
        "api_keys_per_project": 10,
        "alert_policies_per_project": 25,  # the default rule pack (10) and 15 more
    },
    {
        "slug": "team",
        "name": "Team",
        "events_per_month": 50_000_000,
        "overage": "throttle",
        "seats": 25,
        "projects": 25,
        "api_keys_per_project": 50,
        "alert_policies_per_project": 100,
        "retention_debug_days": 7,
        "retention_info_days": 30,
        "retention_warn_days": 90,
        "retention_span_days": 30,
        "retention_point_days": 30,
        "retention_rollup_1m_days": 90,
        "retention_rollup_1h_days": 400,
    },
    {
        "slug": "business",
        "name": "Business",
        "events_per_month": 500_000_000,
        "overage": "allow",
        "retention_debug_days": 14,
        "retention_info_days": 90,
        "retention_warn_days": 400,
        "retention_span_days": 90,
        "retention_point_days": 90,
        "retention_rollup_1m_days": 400,
        "retention_rollup_1h_days": 800,
    },
]
