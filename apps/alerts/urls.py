from django.urls import path

from apps.alerts import views

app_name = "alerts"

urlpatterns = [
    path("projects/<int:project_id>/alerts/", views.alerts_page, name="alerts"),
    path(
        "projects/<int:project_id>/alerts/incidents/<int:incident_id>/",
        views.incident_page,
        name="incident",
    ),
    path("ping/<uuid:ping_uuid>", views.ping, name="ping"),
    path("ping/<uuid:ping_uuid>/start", views.ping_start, name="ping-start"),
    path("ping/<uuid:ping_uuid>/fail", views.ping_fail, name="ping-fail"),
]
