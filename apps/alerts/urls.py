from django.urls import path

from apps.alerts import views

app_name = "alerts"

urlpatterns = [
    path("ping/<uuid:ping_uuid>", views.ping, name="ping"),
    path("ping/<uuid:ping_uuid>/start", views.ping_start, name="ping-start"),
    path("ping/<uuid:ping_uuid>/fail", views.ping_fail, name="ping-fail"),
]
