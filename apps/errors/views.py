"""Pages of error tracking: the Issues tab (list, issue page with its latest event, actions)
and DSN keys on the project settings page (create, revoke)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from apps.alerts.services import policy_create
from apps.alerts.specs import SpecError
from apps.billing.limits import LimitReached
from apps.errors import dsn, services
from apps.errors.attachments import attachment_of_issue, attachments_of
from apps.errors.grouping import message_of
from apps.errors.selectors import (
    events_of,
    get_issue_for,
    issue_hashes,
    issue_sparklines,
    issues_of,
    sdk_discards,
)
from apps.errors.sessions import crash_free
from apps.projects.models import Role
from apps.projects.scoping import get_project_for


@require_POST
def dsn_key_new(request: HttpRequest, project_id: int) -> HttpResponse:
    project, _ = get_project_for(request, project_id, need=Role.ADMIN)
    dsn.dsn_key_create(project, "", request)
    messages.success(request, "DSN created: give it to your Sentry SDKs.")
    return redirect("projects:project-settings", project_id=project.pk)


@require_POST
def dsn_key_revoke(request: HttpRequest, project_id: int, dsn_key_id: int) -> HttpResponse:
    project, _ = get_project_for(request, project_id, need=Role.ADMIN)
    key = project.dsn_keys.select_related("project__organization").filter(pk=dsn_key_id).first()
    if key is None:
        raise Http404("No such DSN key.")
    try:
        dsn.dsn_key_revoke(key, request)
    except dsn.DsnKeyAlreadyRevoked as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, "DSN revoked. SDKs using it are refused from now on.")
    return redirect("projects:project-settings", project_id=project.pk)


ISSUE_STATUSES = ["unresolved", "resolved", "ignored", "all"]
HEALTH_DAYS = 14  # release health and SDK discards shown on the Issues tab


def spark_points(values: list[int]) -> str:
    """SVG polyline points of a sparkline in a 120 x 28 box (numbers only: safe to render)."""
    top = max(values) or 1
    step = 120 / max(1, len(values) - 1)
    return " ".join(f"{i * step:.1f},{27 - 25 * n / top:.1f}" for i, n in enumerate(values))


@require_GET
def issue_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project, access = get_project_for(request, project_id)
    status = request.GET.get("status", "unresolved")
    if status not in ISSUE_STATUSES:
        status = "unresolved"
    query = request.GET.get("q", "").strip()[:200]
    issues = list(issues_of(project, "" if status == "all" else status, query)[:100])
    lines = issue_sparklines([issue.pk for issue in issues], timezone.now())
    for issue in issues:
        issue.spark_points = spark_points(lines[issue.pk])  # type: ignore[attr-defined]
        issue.spark_total = sum(lines[issue.pk])  # type: ignore[attr-defined]
    today = timezone.now().date()
    since = today - timedelta(days=HEALTH_DAYS - 1)
    context = {
        "project": project,
        "organization": project.organization,
        "access": access,
        "tab": "issues",
        "issues": issues,
        "can_act": access.can(Role.MEMBER),
        "status": status,
        "statuses": ISSUE_STATUSES,
        "query": query,
        "alert_kinds": ALERT_KINDS,
        "alert_windows": ALERT_WINDOWS,
        "health_days": HEALTH_DAYS,
        "crash_free": crash_free(project.pk, since)[:20],
        "discards": sdk_discards(project.pk, since, today),
    }
    return render(request, "issues/list.html", context)


@require_GET
def issue_detail(request: HttpRequest, project_id: int, issue_id: int) -> HttpResponse:
    issue, access = get_issue_for(request, project_id, issue_id)
    shown, older, newer = _event_and_neighbours(issue, request.GET.get("event", ""))
    latest = shown
    context = {
        "project": issue.project,
        "organization": issue.project.organization,
        "access": access,
        "can_act": access.can(Role.MEMBER),
        "tab": "issues",
        "issue": issue,
        "latest": latest,
        "older": older,
        "newer": newer,
        "event": event_view(latest.data) if latest is not None else None,
        "attachments": attachments_of(issue.project_id, latest.event_id) if latest is not None else [],
        "can_download": access.can(Role.MEMBER),
        "alert_windows": ALERT_WINDOWS,
        "hashes": issue_hashes(issue),
        "ignore_choices": [(value, choice[0]) for value, choice in IGNORE_CHOICES.items()],
    }
    return render(request, "issues/detail.html", context)


HOUR = 3600
# The issue page's ignore menu: label, then issue_ignore's (until, until_count, window_seconds)
# — `until` as a delay, resolved when the form is posted.
IGNORE_CHOICES: dict[str, tuple[str, timedelta | None, int | None, int | None]] = {
    "": ("for good", None, None, None),
    "1h": ("for an hour", timedelta(hours=1), None, None),
    "24h": ("for a day", timedelta(days=1), None, None),
    "7d": ("for a week", timedelta(days=7), None, None),
    "100": ("until 100 more events", None, 100, None),
    "100/1h": ("until 100 events within an hour", None, 100, HOUR),
    "1000/24h": ("until 1,000 events within a day", None, 1000, 24 * HOUR),
}


def _event_and_neighbours(issue: Any, wanted: str) -> tuple[Any, Any, Any]:
    """The event to show (`?event=<id>` of this issue, else the newest), and the ids of the next
    older and newer ones for paging through the issue's events."""
    events = events_of(issue)
    shown = None
    if wanted.isdigit() and len(wanted) < 19:
        shown = events.filter(pk=int(wanted)).first()
    if shown is None:
        shown = events.first()
    if shown is None:
        return None, None, None
    older = events.filter(pk__lt=shown.pk).values_list("pk", flat=True).first()
    newer = events.filter(pk__gt=shown.pk).order_by("pk").values_list("pk", flat=True).first()
    return shown, older, newer


@require_POST
def issue_split(request: HttpRequest, project_id: int, issue_id: int) -> HttpResponse:
    issue, _ = get_issue_for(request, project_id, issue_id, need=Role.MEMBER)
    try:
        new = services.issue_split(issue, request.POST.getlist("hash"))
    except services.IssueActionRefused as refused:
        messages.error(request, str(refused))
        return redirect("errors:issue", project_id=issue.project_id, issue_id=issue.pk)
    messages.success(request, f"{new.event_count} events split off into this issue; future ones follow.")
    return redirect("errors:issue", project_id=issue.project_id, issue_id=new.pk)


@require_POST
def issues_merge(request: HttpRequest, project_id: int) -> HttpResponse:
    """Merge the issues ticked on the list into the one with the most events (as Sentry does)."""
    project, _ = get_project_for(request, project_id, need=Role.MEMBER)
    ids = [int(value) for value in request.POST.getlist("issue") if value.isdigit() and len(value) < 19]
    chosen = list(project.issues.filter(pk__in=ids).order_by("-event_count", "pk"))
    if len(chosen) < 2:
        messages.error(request, "Tick at least two issues of this project to merge them.")
        return redirect("errors:issues", project_id=project.pk)
    target, others = chosen[0], chosen[1:]
    services.issue_merge(target, others)
    messages.success(request, f"{len(others) + 1} issues merged into this one; their future events follow.")
    return redirect("errors:issue", project_id=project.pk, issue_id=target.pk)


@require_GET
def attachment_download(
    request: HttpRequest, project_id: int, issue_id: int, attachment_id: int
) -> HttpResponse:
    """An attachment of one of the issue's events, for members and up (attachments may hold
    what the app had in memory). Always a download, never rendered: it is the app's content,
    not ours (no stored XSS through an attachment named index.html)."""
    issue, _ = get_issue_for(request, project_id, issue_id, need=Role.MEMBER)
    attachment = attachment_of_issue(issue, attachment_id)
    if attachment is None:
        raise Http404("No such attachment.")
    response = HttpResponse(bytes(attachment.data), content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, attachment.filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
def issue_action(request: HttpRequest, project_id: int, issue_id: int, action: str) -> HttpResponse:
    issue, _ = get_issue_for(request, project_id, issue_id, need=Role.MEMBER)
    try:
        if action == "resolve":
            services.issue_resolve(issue, in_next_release=request.POST.get("in_next_release") == "1")
        elif action == "ignore":
            _, delay, count, window = IGNORE_CHOICES.get(request.POST.get("for", ""), IGNORE_CHOICES[""])
            until = timezone.now() + delay if delay is not None else None
            services.issue_ignore(issue, until, count, window)
        elif action == "unresolve":
            services.issue_unresolve(issue)
        else:
            raise Http404("No such action.")
    except services.IssueActionRefused as refused:
        messages.error(request, str(refused))
    return redirect("errors:issue", project_id=issue.project_id, issue_id=issue.pk)


def _list(value: Any) -> list[Any]:
    if isinstance(value, dict):
        value = value.get("values")
    return value if isinstance(value, list) else []


def event_view(data: dict[str, Any]) -> dict[str, Any]:
    """What the issue page shows of an event, shaped for the template (newest exception first,
    frames innermost first, as every Sentry-style UI reads)."""
    chain = []
    for exception in reversed(_list(data.get("exception"))):
        if not isinstance(exception, dict):
            continue
        frames = [f for f in _list((exception.get("stacktrace") or {}).get("frames")) if isinstance(f, dict)]
        chain.append({"type": exception.get("type"), "value": exception.get("value"), "frames": frames[::-1]})
    tags = data.get("tags")
    if isinstance(tags, dict):
        tags = sorted(tags.items())
    elif isinstance(tags, list):
        tags = [tuple(t) for t in tags if isinstance(t, list | tuple) and len(t) == 2]
    else:
        tags = []
    return {
        "exceptions": chain,
        "message": message_of(data),
        "breadcrumbs": [b for b in _list(data.get("breadcrumbs")) if isinstance(b, dict)][-50:],
        "tags": tags,
        "request": data.get("request") if isinstance(data.get("request"), dict) else None,
        "user": data.get("user") if isinstance(data.get("user"), dict) else None,
        "contexts": sorted((data.get("contexts") or {}).items())
        if isinstance(data.get("contexts"), dict)
        else [],
    }


ALERT_KINDS = {
    "new_issue": "New issue",
    "issue_regression": "Issue regressed",
    "issue_unignored": "Issue came back from ignored",
    "issue_events": "Many events",
}
ALERT_WINDOWS = {"5m": 300, "15m": 900, "1h": 3600, "24h": 86400}
PRIORITIES = ("P1", "P2", "P3", "P4")


@require_POST
def issue_alert_new(request: HttpRequest, project_id: int) -> HttpResponse:
    """An alert policy on this project's issues from the Issues tab or an issue page (admins, as
    every policy): a kind, and for `issue_events` N events in T, of one issue or of any."""
    project, _ = get_project_for(request, project_id, need=Role.ADMIN)
    kind = request.POST.get("kind", "")
    window = request.POST.get("window", "1h")
    issue_id = request.POST.get("issue_id", "")
    try:
        threshold = int(request.POST.get("threshold") or 1)
    except ValueError:
        threshold = 0
    if kind not in ALERT_KINDS or window not in ALERT_WINDOWS or threshold < 1:
        messages.error(request, "Choose a kind, a window and a number of events of at least 1.")
        return redirect("errors:issues", project_id=project.pk)
    issue = get_issue_for(request, project.pk, issue_id)[0] if issue_id else None
    spec: dict[str, Any] = {"issue_id": issue.pk} if issue is not None and kind == "issue_events" else {}
    name = ALERT_KINDS[kind] + (f" ≥ {threshold} in {window}" if kind == "issue_events" else "")
    if issue is not None and kind == "issue_events":
        name += f": {issue.title}"[:150]
    fields = {
        "name": name[:200],
        "kind": kind,
        "spec": spec,
        "op": ">=" if kind == "issue_events" else ">",
        "threshold": float(threshold) if kind == "issue_events" else 0.0,
        "window_seconds": ALERT_WINDOWS[window],
        "priority": priority if (priority := request.POST.get("priority", "P3")) in PRIORITIES else "P3",
    }
    try:
        policy = policy_create(project, fields, actor=request.user)
    except (SpecError, LimitReached) as refused:  # invalid, or the plan's policies are used up
        messages.error(request, f"Not created: {refused}")
        return redirect("errors:issues", project_id=project.pk)
    messages.success(request, f"Alert policy “{policy.name}” created; it notifies through your channels.")
    return redirect(f"/projects/{project.pk}/alerts/#policy-{policy.pk}")
