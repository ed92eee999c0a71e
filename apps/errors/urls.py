"""/api/v1/ routes of error tracking. No trailing slash; one is tolerated, never redirected."""

from django.urls import re_path

from apps.errors import api

PROJECT = r"^projects/(?P<project_id>\d+)"
ISSUE = rf"{PROJECT}/issues/(?P<issue_id>\d+)"

urlpatterns = [
    re_path(rf"{PROJECT}/dsn-keys/?$", api.DsnKeyList.as_view(), name="api-dsn-key-list"),
    re_path(
        rf"{PROJECT}/dsn-keys/(?P<dsn_key_id>\d+)/?$", api.DsnKeyDetail.as_view(), name="api-dsn-key-detail"
    ),
    re_path(rf"{PROJECT}/issues/?$", api.IssueList.as_view(), name="api-issue-list"),
    re_path(rf"{ISSUE}/?$", api.IssueDetail.as_view(), name="api-issue-detail"),
    re_path(rf"{ISSUE}/events/?$", api.IssueEvents.as_view(), name="api-issue-events"),
    re_path(rf"{ISSUE}/resolve/?$", api.IssueResolve.as_view(), name="api-issue-resolve"),
    re_path(rf"{ISSUE}/ignore/?$", api.IssueIgnore.as_view(), name="api-issue-ignore"),
    re_path(rf"{ISSUE}/unresolve/?$", api.IssueUnresolve.as_view(), name="api-issue-unresolve"),
    re_path(rf"{ISSUE}/merge/?$", api.IssueMerge.as_view(), name="api-issue-merge"),
    re_path(rf"{ISSUE}/hashes/?$", api.IssueHashes.as_view(), name="api-issue-hashes"),
    re_path(rf"{ISSUE}/split/?$", api.IssueSplit.as_view(), name="api-issue-split"),
]
