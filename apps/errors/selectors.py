"""Reads of issues and events, always scoped to a project the caller may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from apps.errors.models import Event, Issue
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


def issues_of(project: Project, status: str = "", query: str = "") -> QuerySet[Issue]:
    issues = project.issues.all()
    if status:
        issues = issues.filter(status=status)
    if query:
        issues = issues.filter(title__icontains=query)
    return issues.order_by("-last_seen", "-pk")


def events_of(issue: Issue, before: int | None = None) -> QuerySet[Event]:
    """The issue's events within retention (the hourly delete may not have run yet)."""
    oldest = cutoff(issue.project_id, timezone.now())
    events = Event.objects.filter(issue=issue, project_id=issue.project_id, received__gte=oldest)
    if before is not None:
        events = events.filter(pk__lt=before)
    return events.order_by("-pk")
