"""Reads behind the usage page and `GET /api/v1/orgs/{id}/usage`: what was accepted and what was
dropped and why, per project, signal and time bucket; the quota, and where the period is heading.

Hourly buckets come from the minute table (kept USAGE_MINUTES_KEPT_HOURS), daily ones from the
day table; counts are what the last flush (at most a minute ago) moved into PostgreSQL, except
the period's accepted total, which reads the live Redis counter when it can.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from apps.billing import quota, state
from apps.billing.models import MeterGap, Outcome

GROUPS = {"project": "project_id", "signal": "signal", "reason": "outcome"}


class UsageQueryError(ValueError):
    pass


@dataclass(frozen=True)
class UsageQuery:
    organization_id: int
    start: datetime
    end: datetime
    group_by: tuple[str, ...]
    step: str  # "hour" | "day"
    project_ids: tuple[int, ...] | None = None  # None: every project of the organization


def parse_query(
    organization_id: int, params: Any, now: datetime, project_ids: Iterable[int] | None = None
) -> UsageQuery:
    """From query parameters: start/end (ISO date or date-time, UTC; default: this period so far),
    group_by (comma-separated subset of project, signal, reason), step (hour|day)."""
    period_start, _ = state.period_bounds(now)
    minutes_kept = now - timedelta(hours=settings.USAGE_MINUTES_KEPT_HOURS)
    hourly_from = (minutes_kept + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    start = _when(params.get("start"), "start", hourly_from if params.get("step") == "hour" else period_start)
    end = _when(params.get("end"), "end", now)
    if end <= start:
        raise UsageQueryError("end must be after start.")
    if end - start > timedelta(days=400):
        raise UsageQueryError("At most 400 days per query.")
    group_by = tuple(g for g in (params.get("group_by") or "signal,reason").split(",") if g)
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        raise UsageQueryError(f"Unknown group_by {', '.join(unknown)}; use project, signal, reason.")
    step = params.get("step") or ("hour" if start >= minutes_kept else "day")
    if step not in ("hour", "day"):
        raise UsageQueryError("step must be hour or day.")
    if step == "hour" and start < minutes_kept:
        raise UsageQueryError(
            f"Hourly usage is kept {settings.USAGE_MINUTES_KEPT_HOURS} hours; use step=day."
        )
    ids = tuple(sorted(project_ids)) if project_ids is not None else None
    return UsageQuery(organization_id, start, end, tuple(dict.fromkeys(group_by)), step, ids)


def _when(value: str | None, name: str, default: datetime) -> datetime:
    if not value:
        return default
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value), time.min)
        except ValueError:
            raise UsageQueryError(f"{name} must be an ISO date or date-time.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def usage(query: UsageQuery) -> dict[str, Any]:
    columns = [GROUPS[g] for g in query.group_by]
    if query.step == "hour":
        table, bucket = "billing_usageminute", "date_trunc('hour', minute)"
        start, end = query.start, query.end
    else:
        table, bucket = "billing_usageday", "day"
        # Days that hold any of [start, end): the last one is the day of the last microsecond.
        start, end = query.start.date(), (query.end - timedelta(microseconds=1)).date()  # type: ignore[assignment]
    where = f"organization_id = %s AND {'minute' if query.step == 'hour' else 'day'} >= %s AND "
    where += "minute < %s" if query.step == "hour" else "day <= %s"
    params: list[Any] = [query.organization_id, start, end]
    if query.project_ids is not None:
        where += " AND project_id = ANY(%s)"
        params.append(list(query.project_ids))
    # Every name put into the SQL comes from GROUPS and the two tables above, never from the request.
    keys = ", ".join(["bucket", *columns])
    sql = f"SELECT {keys}, sum(count) FROM (SELECT {bucket} AS bucket, * FROM {table} WHERE {where}) AS usage"  # noqa: S608
    sql += f" GROUP BY {keys} ORDER BY {keys}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    buckets: list[dict[str, Any]] = []
    totals: dict[tuple[Any, ...], int] = {}
    for row in rows:
        at, *keys, count = row
        at_iso = at.isoformat() if isinstance(at, datetime) else f"{at.isoformat()}T00:00:00+00:00"
        labels = {_label(g): value for g, value in zip(query.group_by, keys, strict=True)}
        buckets.append({"time": at_iso, **labels, "count": int(count)})
        group = tuple(keys)
        totals[group] = totals.get(group, 0) + int(count)
    return {
        "start": query.start.isoformat(),
        "end": query.end.isoformat(),
        "step": query.step,
        "group_by": list(query.group_by),
        "totals": [
            {**{_label(g): v for g, v in zip(query.group_by, group, strict=True)}, "count": n}
            for group, n in totals.items()
        ],
        "buckets": buckets,
        "gaps": gaps(query),
    }


def _label(group: str) -> str:
    return {"project": "project_id"}.get(group, group)


def gaps(query: UsageQuery) -> list[dict[str, Any]]:
    """Minutes in which Redis was down: accepted records were counted, dropped ones were not."""
    return [
        {"minute": gap.minute.isoformat(), "requests": gap.requests}
        for gap in MeterGap.objects.filter(
            organization_id=query.organization_id, minute__gte=query.start, minute__lt=query.end
        ).order_by("minute")[:1000]
    ]


def quota_status(organization_id: int, now: datetime) -> dict[str, Any]:
    """The plan, this period's accepted count, and the projection to the period's end."""
    from apps.billing.usage import accepted_in_period

    org = state.for_organization(organization_id)
    start, end = state.period_bounds(now)
    used = _live_count(organization_id, now)
    if used is None:
        used = accepted_in_period(organization_id, now)
    elapsed = max((now - start).total_seconds(), 60.0)
    rate = used / elapsed  # events per second so far this period
    projected = int(used + rate * max((end - now).total_seconds(), 0))
    runs_out_at = None
    # Compared in seconds first: at a tiny rate the date would be centuries out, past datetime's range.
    if org.events_per_month and rate > 0 and org.events_per_month / rate < (end - start).total_seconds():
        runs_out = start + timedelta(seconds=org.events_per_month / rate)
        runs_out_at = (max(runs_out, now) if used >= org.events_per_month else runs_out).isoformat()
    return {
        "plan": {
            "slug": org.plan_slug,
            "name": org.plan_name,
            "events_per_month": org.events_per_month,
            "overage": org.overage,
            "overage_cap": org.overage_cap,
        },
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "used": used,
        "remaining": max(0, org.events_per_month - used),
        "percent": round(100 * used / org.events_per_month, 1) if org.events_per_month else None,
        "projected": projected,
        "runs_out_at": runs_out_at,
    }


def _live_count(organization_id: int, now: datetime) -> int | None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        value = client.get(quota.counter_key(organization_id, state.period_key(now)))
    except redis.RedisError:
        return None
    finally:
        client.close()
    return int(value) if value is not None else None


OUTCOMES = [choice.value for choice in Outcome]
