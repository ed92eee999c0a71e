"""/api/v1/ metric routes. No trailing slash; one is tolerated, never redirected."""

from django.urls import re_path

from apps.metrics import api

PROJECT = r"projects/(?P<project_id>\d+)"

urlpatterns = [
    re_path(rf"^{PROJECT}/metrics/?$", api.MetricList.as_view(), name="api-metric-list"),
    re_path(rf"^{PROJECT}/metrics/query/?$", api.MetricQueryView.as_view(), name="api-metric-query"),
]
