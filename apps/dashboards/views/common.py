"""What every dashboard page needs: the project (scoped to the member), and the page context."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.projects.models import Project
from apps.projects.scoping import Access, get_project_for


def project_context(
    request: HttpRequest, project_id: int, tab: str
) -> tuple[Project, Access, dict[str, Any]]:
    project, access = get_project_for(request, project_id)
    context = {"project": project, "organization": project.organization, "access": access, "tab": tab}
    return project, access, context
