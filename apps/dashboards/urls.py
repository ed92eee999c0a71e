"""Dashboard pages of a project. Each page is a server-rendered shell; its charts and tables load
from the read API (/api/v1/projects/{id}/…) with the member's session and update over the live
socket (/ws/projects/{id}/live/)."""

from django.urls import path

from apps.dashboards.views import logs, metrics, overview, traces

app_name = "dashboards"

urlpatterns = [
    path("projects/<int:project_id>/", overview.overview, name="overview"),
    path("projects/<int:project_id>/demo/", overview.demo_fill, name="demo-fill"),
    path("projects/<int:project_id>/activity/", overview.activity, name="overview-activity"),
    path("projects/<int:project_id>/logs/", logs.explorer, name="logs"),
    path("projects/<int:project_id>/metrics/", metrics.explorer, name="metrics"),
    path("projects/<int:project_id>/traces/", traces.trace_list, name="traces"),
    path("projects/<int:project_id>/traces/<str:trace_id>/", traces.trace_detail, name="trace"),
]
