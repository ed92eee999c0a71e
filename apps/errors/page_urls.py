from django.urls import path

from apps.errors import views

app_name = "errors"

urlpatterns = [
    path("projects/<int:project_id>/dsn-keys/new/", views.dsn_key_new, name="dsn-key-new"),
    path(
        "projects/<int:project_id>/dsn-keys/<int:dsn_key_id>/revoke/",
        views.dsn_key_revoke,
        name="dsn-key-revoke",
    ),
]
