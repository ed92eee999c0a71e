"""/api/v1/projects/{id}/logs...: no trailing slash; one is tolerated, never redirected."""

from django.urls import re_path

from apps.logs import api

PROJECT = r"projects/(?P<project_id>\d+)"

urlpatterns = [
    re_path(rf"^{PROJECT}/logs/?$", api.LogSearch.as_view(), name="api-log-search"),
    re_path(rf"^{PROJECT}/logs/stats/?$", api.LogStats.as_view(), name="api-log-stats"),
    re_path(rf"^{PROJECT}/logs/patterns/?$", api.LogPatterns.as_view(), name="api-log-patterns"),
]
