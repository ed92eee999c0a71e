"""Reads of issues and events, always scoped to a project the caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from apps.errors.grouping import exceptions, frames_of, group, in_app_frames
from apps.errors.models import Event, Issue, IssueHour, SdkDiscard
from apps.errors.retention import cutoff
from apps.projects.models import Project, Role
from apps.projects.scoping import Access, get_project_for


def get_issue_for(
    request: Any, project_id: Any, issue_id: Any, need: str = Role.VIEWER
) -> tuple[Issue, Access]:
    """The issue, or 404 when it is not in a project the requester sees (scoping.py's rule)."""
    project, access = get_project_for(request, project_id, need=need)
    try:
        return project.issues.get(pk=int(issue_id)), access
    except (Issue.DoesNotExist, TypeError, ValueError):
        raise Http404("No such issue.") from None


def issues_of(project: Project, status: str = "", query: str = "", trace_id: str = "") -> QuerySet[Issue]:
    """The project's issues, most recently seen first; `trace_id` keeps those with an event of that
    trace within retention (the trace and log pages link back to their issues)."""
    issues = project.issues.all()
    if status:
        issues = issues.filter(status=status)
    if query:
        issues = issues.filter(title__icontains=query)
    if trace_id:
        in_trace = Event.objects.filter(
            project_id=project.pk,
            trace_id=trace_id.lower(),
            issue__isnull=False,
            received__gte=cutoff(project.pk, timezone.now()),
        )
        issues = issues.filter(pk__in=in_trace.values("issue_id"))
    # last_seen's order, in the index's terms: its minute first (errors_issue_recent), then within it.
    return issues.order_by("-last_seen_minute", "-last_seen", "-pk")


SPARK_HOURS = 24


def issue_sparklines(issue_ids: list[int], now: datetime, hours: int = SPARK_HOURS) -> dict[int, list[int]]:
    """Events per hour of each issue over the last `hours` whole and current hours, oldest first
    (the issue list's sparklines): one indexed read of the hourly counters for the whole page.
    The callers' issues are already scoped to a project the requester sees."""
    current = now.replace(minute=0, second=0, microsecond=0)
    start = current - timedelta(hours=hours - 1)
    lines = {issue_id: [0] * hours for issue_id in issue_ids}
    rows = IssueHour.objects.filter(issue_id__in=issue_ids, hour__gte=start, hour__lte=current)
    for issue_id, hour, events in rows.values_list("issue_id", "hour", "events"):
        lines[issue_id][int((hour - start).total_seconds() // 3600)] = events
    return lines


HASH_SAMPLE = 10_000  # the newest events of an issue read to list its hashes
MAX_HASHES = 50


@dataclass(frozen=True)
class IssueHash:
    """One primary grouping hash of an issue (a merge gives an issue several): what a member
    picks to split events off."""

    hash: str  # "vigil-v1:<hex>", as issue_split takes it
    events: int  # among the issue's newest HASH_SAMPLE events
    last_seen: datetime
    basis: list[str]  # the frames (or message) its newest event was grouped on


_ISSUE_HASHES = """
SELECT h, count(*), max(received), max(id) FROM (
    SELECT hashes->>0 AS h, received, id FROM errors_event
    WHERE issue_id = %s AND project_id = %s ORDER BY id DESC LIMIT %s
) recent WHERE h IS NOT NULL GROUP BY h ORDER BY max(id) DESC LIMIT %s
"""


def issue_hashes(issue: Issue) -> list[IssueHash]:
    """The issue's primary hashes among its newest events, newest first."""
    with connection.cursor() as cursor:
        cursor.execute(_ISSUE_HASHES, [issue.pk, issue.project_id, HASH_SAMPLE, MAX_HASHES])
        rows = cursor.fetchall()
    newest = Event.objects.filter(issue=issue, project_id=issue.project_id, pk__in=[row[3] for row in rows])
    data = dict(newest.values_list("pk", "data"))
    return [
        IssueHash(h, count, last, group(data[pk]).basis if isinstance(data.get(pk), dict) else [])
        for h, count, last, pk in rows
    ]


def events_of(issue: Issue, before: int | None = None) -> QuerySet[Event]:
    """The issue's events within retention (the hourly delete may not have run yet)."""
    oldest = cutoff(issue.project_id, timezone.now())
    events = Event.objects.filter(issue=issue, project_id=issue.project_id, received__gte=oldest)
    if before is not None:
        events = events.filter(pk__lt=before)
    return events.order_by("-pk")


# --- For apps.alerts' error kinds (apps/alerts/error_kinds.py) ---------------------------------

ISSUE_CHANGES = {"new": "first_seen", "regressed": "regressed_at", "unignored": "unignored_at"}
TOP_FRAMES = 5


@dataclass(frozen=True)
class IssueBrief:
    """What a notification says about an issue: its title, where, the top of its stack, a link."""

    id: int
    project_id: int
    title: str
    culprit: str
    level: str
    status: str
    event_count: int
    path: str  # the issue page
    frames: list[str]  # innermost first, at most TOP_FRAMES


def issue_event_counts(
    project_id: int, start: datetime, end: datetime, environment: str = "", issue_ids: list[int] | None = None
) -> dict[int, int]:
    """Events received in [start, end) per issue (the (project, received) index's range)."""
    events = Event.objects.filter(project_id=project_id, received__gte=start, received__lt=end)
    if environment:
        events = events.filter(environment=environment)
    if issue_ids is not None:
        events = events.filter(issue_id__in=issue_ids)
    rows = events.values("issue_id").annotate(n=Count("id")).values_list("issue_id", "n")
    return dict(rows)


def issues_changed(project_id: int, change: str, start: datetime, end: datetime) -> list[int]:
    """Issues of the project that were first seen ("new"), regressed, or came back from ignored
    within [start, end)."""
    field = ISSUE_CHANGES[change]
    return list(
        Issue.objects.filter(
            project_id=project_id, **{f"{field}__gte": start, f"{field}__lt": end}
        ).values_list("id", flat=True)
    )


def _frame_line(frame: dict[str, Any]) -> str:
    where = frame.get("module") or frame.get("filename") or frame.get("abs_path") or "?"
    line = f"{where} in {frame.get('function') or '?'}"
    if isinstance(frame.get("lineno"), int):
        line += f" line {frame['lineno']}"
    context = frame.get("context_line")
    if isinstance(context, str) and context.strip():
        line += f": {context.strip()[:200]}"
    return str(line)[:400]


def top_frames(event: dict[str, Any], limit: int = TOP_FRAMES) -> list[str]:
    """The innermost frames of the last exception (in-app ones when the SDK marked any)."""
    chain = exceptions(event)
    if not chain:
        return []
    frames = in_app_frames(frames_of(chain[-1]))
    return [_frame_line(f) for f in reversed(frames[-limit:])]


def issue_brief(project_id: int, issue_id: int) -> IssueBrief | None:
    issue = Issue.objects.filter(project_id=project_id, pk=issue_id).first()
    if issue is None:
        return None
    latest = Event.objects.filter(issue=issue, project_id=project_id).order_by("-pk").values("data").first()
    return IssueBrief(
        id=issue.pk,
        project_id=project_id,
        title=issue.title,
        culprit=issue.culprit,
        level=issue.level,
        status=issue.status,
        event_count=issue.event_count,
        path=f"/projects/{project_id}/issues/{issue.pk}/",
        frames=top_frames(latest["data"]) if latest and isinstance(latest["data"], dict) else [],
    )


@dataclass(frozen=True)
class Discarded:
    project_id: int
    category: str  # error, transaction, span, attachment, session, ...
    reason: str  # queue_overflow, ratelimit_backoff, sample_rate, before_send, network_error, ...
    quantity: int


def _discards(rows: QuerySet[SdkDiscard]) -> list[Discarded]:
    totals = (
        rows.values("project_id", "category", "reason")
        .annotate(quantity=Sum("quantity"))
        .order_by("-quantity", "project_id", "category", "reason")
    )
    return [Discarded(r["project_id"], r["category"], r["reason"], r["quantity"]) for r in totals]


def sdk_discards(project_id: int, start: date, end: date) -> list[Discarded]:
    """What the project's SDKs reported dropping (`client_report`) on days [start, end], most
    first: the data users never see because it never left their app."""
    return _discards(SdkDiscard.objects.filter(project_id=project_id, day__gte=start, day__lte=end))


def sdk_discards_of_organization(organization_id: int, start: date, end: date) -> list[Discarded]:
    """The same for every project of an organization (billing's usage page)."""
    return _discards(
        SdkDiscard.objects.filter(project__organization_id=organization_id, day__gte=start, day__lte=end)
    )
