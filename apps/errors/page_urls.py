from django.urls import path

from apps.errors import views

app_name = "errors"

urlpatterns = [
    path("projects/<int:project_id>/issues/", views.issue_list, name="issues"),
    path("projects/<int:project_id>/issues/<int:issue_id>/", views.issue_detail, name="issue"),
    path("projects/<int:project_id>/issues/alerts/new/", views.issue_alert_new, name="issue-alert-new"),
    path("projects/<int:project_id>/issues/merge/", views.issues_merge, name="issues-merge"),
    path("projects/<int:project_id>/issues/<int:issue_id>/split/", views.issue_split, name="issue-split"),
    *(
        path(
            f"projects/<int:project_id>/issues/<int:issue_id>/{action}/",
            views.issue_action,
            {"action": action},
            name=f"issue-{action}",
        )
        for action in ("resolve", "ignore", "unresolve")
    ),
    path(
        "projects/<int:project_id>/issues/<int:issue_id>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment",
    ),
    path("projects/<int:project_id>/dsn-keys/new/", views.dsn_key_new, name="dsn-key-new"),
    path(
        "projects/<int:project_id>/dsn-keys/<int:dsn_key_id>/revoke/",
        views.dsn_key_revoke,
        name="dsn-key-revoke",
    ),
]
