from django.urls import path

from apps.audit import views as audit_views
from apps.projects import views

app_name = "projects"

urlpatterns = [
    path("", views.home, name="home"),
    path("orgs/new/", views.organization_new, name="organization-new"),
    path("orgs/<int:organization_id>/", views.organization, name="organization"),
    path("orgs/<int:organization_id>/projects/new/", views.project_new, name="project-new"),
    path("orgs/<int:organization_id>/members/", views.members, name="members"),
    path("orgs/<int:organization_id>/invitations/new/", views.invitation_new, name="invitation-new"),
    path(
        "orgs/<int:organization_id>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path(
        "orgs/<int:organization_id>/members/<int:membership_id>/role/", views.member_role, name="member-role"
    ),
    path(
        "orgs/<int:organization_id>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member-remove",
    ),
    path("orgs/<int:organization_id>/settings/", views.organization_settings, name="organization-settings"),
    path(
        "orgs/<int:organization_id>/settings/rename/", views.organization_rename, name="organization-rename"
    ),
    path(
        "orgs/<int:organization_id>/settings/delete/", views.organization_delete, name="organization-delete"
    ),
    path(
        "orgs/<int:organization_id>/settings/transfer/",
        views.organization_transfer,
        name="organization-transfer",
    ),
    path("orgs/<int:organization_id>/audit/", audit_views.audit_log, name="audit"),
    path("orgs/<int:organization_id>/audit/export.csv", audit_views.audit_export, name="audit-export"),
    path("projects/<int:project_id>/settings/", views.project_settings, name="project-settings"),
    path("projects/<int:project_id>/rename/", views.project_rename, name="project-rename"),
    path("projects/<int:project_id>/delete/", views.project_delete, name="project-delete"),
    path("projects/<int:project_id>/keys/new/", views.key_new, name="key-new"),
    path("projects/<int:project_id>/keys/<int:key_id>/revoke/", views.key_revoke, name="key-revoke"),
]
