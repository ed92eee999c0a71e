from django.urls import re_path

from apps.traces import api

PROJECT = r"^projects/(?P<project_id>\d+)"

urlpatterns = [
    re_path(rf"{PROJECT}/traces/?$", api.TraceList.as_view(), name="api-trace-list"),
    re_path(rf"{PROJECT}/traces/(?P<trace_id>[^/]+)/?$", api.TraceDetail.as_view(), name="api-trace-detail"),
]
