"""/api/v1/ management routes. Paths have no trailing slash; one is tolerated, never redirected."""

from collections.abc import Callable

from django.http.response import HttpResponseBase
from django.urls import URLPattern, re_path

from apps.projects import api

ORG = r"orgs/(?P<organization_id>\d+)"
PROJECT = r"projects/(?P<project_id>\d+)"


def route(pattern: str, view: Callable[..., HttpResponseBase], name: str) -> URLPattern:
    return re_path(rf"^{pattern}/?$", view, name=name)


urlpatterns = [
    route("orgs", api.OrganizationList.as_view(), "api-organization-list"),
    route(ORG, api.OrganizationDetail.as_view(), "api-organization-detail"),
    route(rf"{ORG}/projects", api.ProjectList.as_view(), "api-project-list"),
    route(rf"{ORG}/members", api.MemberList.as_view(), "api-member-list"),
    route(rf"{ORG}/members/(?P<membership_id>\d+)", api.MemberDetail.as_view(), "api-member-detail"),
    route(rf"{ORG}/invitations", api.InvitationList.as_view(), "api-invitation-list"),
    route(
        rf"{ORG}/invitations/(?P<invitation_id>\d+)", api.InvitationDetail.as_view(), "api-invitation-detail"
    ),
    route(rf"{ORG}/audit", api.AuditList.as_view(), "api-audit-list"),
    route(PROJECT, api.ProjectDetail.as_view(), "api-project-detail"),
    route(rf"{PROJECT}/keys", api.ApiKeyList.as_view(), "api-key-list"),
    route(rf"{PROJECT}/keys/(?P<key_id>\d+)", api.ApiKeyDetail.as_view(), "api-key-detail"),
]
