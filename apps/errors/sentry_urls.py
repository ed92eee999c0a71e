"""Sentry's own API paths that sentry-cli calls (/api/0/…): release files, chunk upload and
artifact bundle assemble for source maps.
`{organization}` and `{project}` are Vigil's ids (sentry-cli `--org 12 --project 34`)."""

from django.urls import re_path

from apps.errors import api

urlpatterns = [
    re_path(
        r"^organizations/(?P<organization_id>\d+)/chunk-upload/?$",
        api.ChunkUpload.as_view(),
        name="api-chunk-upload",
    ),
    re_path(
        r"^organizations/(?P<organization_id>\d+)/artifactbundle/assemble/?$",
        api.BundleAssemble.as_view(),
        name="api-bundle-assemble",
    ),
    re_path(
        r"^projects/(?P<organization_id>\d+)/(?P<project_id>\d+)/releases/(?P<version>[^/]{1,200})/files/?$",
        api.ReleaseFiles.as_view(),
        name="api-release-files",
    ),
]
