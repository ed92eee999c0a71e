"""Pages of error tracking: DSN keys on the project settings page (create, revoke)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.errors import dsn
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
