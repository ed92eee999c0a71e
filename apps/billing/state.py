"""The per-organization billing state the hot paths read: plan limits and retention, cached in
process memory.

Ingestion must not query PostgreSQL per request, so each process keeps what it learned for
STATE_TTL_SECONDS (a plan change bites everywhere within that time; `forget()` makes this process
see it at once). On a miss one query joins project → organization → subscription → plan.
An organization without a subscription row (made before billing, or by a fixture) is given the
default plan here, so every organization has exactly one subscription the moment it is looked at.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction

if TYPE_CHECKING:
    from apps.billing.models import Plan, Subscription

STATE_TTL_SECONDS = 30.0
_MAX_ENTRIES = 50_000
RETENTION_FIELDS = ("debug", "info", "warn", "span", "point", "rollup_1m", "rollup_1h")


@dataclass(frozen=True)
class OrgState:
    organization_id: int
    plan_slug: str
    plan_name: str
    events_per_month: int
    overage: str
    overage_cap: int | None
    # Days per RETENTION_FIELDS entry; None = the deployment default (RETENTION_* settings).
    retention_days: tuple[int | None, ...]


_lock = threading.Lock()
_by_project: dict[int, tuple[float, OrgState]] = {}
_by_org: dict[int, tuple[float, OrgState]] = {}


def forget() -> None:
    """Drop this process's cached states (after a plan change, in tests)."""
    with _lock:
        _by_project.clear()
        _by_org.clear()


def for_project(project_id: int) -> OrgState:
    entry = _by_project.get(project_id)
    if entry is not None and entry[0] > time.monotonic():
        return entry[1]
    from apps.projects.models import Project

    try:
        organization_id = (
            Project.objects.filter(pk=project_id).values_list("organization_id", flat=True).first()
        )
    except DatabaseError:
        if entry is not None:  # PostgreSQL is down: what we knew is better than a refusal
            return entry[1]
        raise
    state = for_organization(organization_id) if organization_id is not None else default_state(0)
    _remember(_by_project, project_id, state)
    return state


def for_organization(organization_id: int) -> OrgState:
    entry = _by_org.get(organization_id)
    if entry is not None and entry[0] > time.monotonic():
        return entry[1]
    try:
        state = _load(organization_id)
    except DatabaseError:
        if entry is not None:  # PostgreSQL is down: what we knew is better than a refusal
            return entry[1]
        raise
    _remember(_by_org, organization_id, state)
    return state


def _remember(cache: dict[int, tuple[float, OrgState]], key: int, state: OrgState) -> None:
    with _lock:
        if len(cache) >= _MAX_ENTRIES:
            cache.clear()
        cache[key] = (time.monotonic() + STATE_TTL_SECONDS, state)


def _load(organization_id: int) -> OrgState:
    from apps.billing.models import Subscription

    subscription = Subscription.objects.select_related("plan").filter(organization_id=organization_id).first()
    if subscription is None:
        subscription = ensure_subscription(organization_id)
    if subscription is None:  # the organization itself is gone
        return default_state(organization_id)
    return state_of(organization_id, subscription.plan)


def state_of(organization_id: int, plan: Plan) -> OrgState:
    return OrgState(
        organization_id=organization_id,
        plan_slug=plan.slug,
        plan_name=plan.name,
        events_per_month=plan.events_per_month,
        overage=plan.overage,
        overage_cap=plan.overage_cap,
        retention_days=tuple(getattr(plan, f"retention_{name}_days") for name in RETENTION_FIELDS),
    )


def default_state(organization_id: int) -> OrgState:
    """For a project or organization that no longer exists: nothing is allowed beyond defaults."""
    return OrgState(organization_id, "", "", 0, "block", None, (None,) * len(RETENTION_FIELDS))


def ensure_subscription(organization_id: int) -> Subscription | None:
    """The organization's subscription, created on the default plan if it has none."""
    from apps.billing.models import Subscription
    from apps.projects.models import Organization

    if not Organization.objects.filter(pk=organization_id).exists():
        return None
    plan = default_plan()
    try:
        with transaction.atomic():
            subscription, _ = Subscription.objects.get_or_create(
                organization_id=organization_id, defaults={"plan": plan}
            )
    except IntegrityError:  # created concurrently by another request
        subscription = Subscription.objects.get(organization_id=organization_id)
    return Subscription.objects.select_related("plan").get(pk=subscription.pk)


def default_plan() -> Plan:
    """The plan new organizations get. Recreated from the seed if an operator (or a test that
    flushes tables) removed it: an organization must never be left without a plan."""
    from apps.billing.models import Plan
    from apps.billing.seed import PLANS

    slug = settings.BILLING_DEFAULT_PLAN
    plan = Plan.objects.filter(slug=slug).first()
    if plan is None:
        seeded = next((fields for fields in PLANS if fields["slug"] == slug), None)
        if seeded is None:
            raise LookupError(f"BILLING_DEFAULT_PLAN names no plan: {slug!r}")
        plan, _ = Plan.objects.get_or_create(slug=slug, defaults=seeded)
    return plan


# --- The billing period: the calendar month in UTC --------------------------------------------


def period_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def period_key(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m")


_clock: tuple[int, str, datetime] = (-1, "", datetime.min)


def minute_clock() -> tuple[int, str, datetime]:
    """(this minute as Unix seconds, period key, period end): computed once a minute, not per
    request (strftime and the month arithmetic are a measurable share of the hot path)."""
    global _clock
    minute = int(time.time()) // 60 * 60
    if _clock[0] != minute:
        now = datetime.fromtimestamp(minute, UTC)
        _clock = (minute, period_key(now), period_bounds(now)[1])
    return _clock
