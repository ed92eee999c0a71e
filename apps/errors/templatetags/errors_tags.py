"""`{% project_dsns project access %}`: the DSN card of the project settings page, so that page
needs no knowledge of error tracking beyond this one tag."""

from __future__ import annotations

from typing import Any

from django import template

from apps.errors.dsn import base_url, dsns_for
from apps.projects.models import Project, Role

register = template.Library()


@register.inclusion_tag("issues/dsn_card.html", takes_context=True)
def project_dsns(context: dict[str, Any], project: Project, access: Any) -> dict[str, Any]:
    request = context.get("request")
    return {
        "project": project,
        "dsns": dsns_for(project, base_url(request)),
        "can_admin": access.can(Role.ADMIN),
        "csrf_token": context.get("csrf_token"),
    }
