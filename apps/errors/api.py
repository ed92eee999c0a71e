"""Issues API and DSN keys API (/api/v1/projects/{id}/issues…, …/dsn-keys…).

Read keys and every member read; members and up act on issues (resolve, ignore, merge, split); admins
manage DSN keys. Other tenants get 404 (scoping.py).
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import ApiError, BadRequest
from apps.api.views import ApiView
from apps.errors import artifact_bundles, dsn, services, sourcemaps
from apps.errors.models import DsnKey, Event, Issue, IssueStatus, ReleaseFile
from apps.errors.selectors import events_of, get_issue_for, issue_hashes, issues_of
from apps.projects.authentication import KeyIdentity
from apps.projects.models import Organization, Project, Role
from apps.projects.scoping import Access, get_organization_for, get_project_for


def require_member(access: Access) -> None:
    if access.key is not None:
        raise PermissionDenied("API keys read telemetry; DSN keys are managed by signed-in members.")


class ConflictView(ApiView):
    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, services.IssueActionRefused | dsn.DsnKeyAlreadyRevoked):
            return Response(
                {"error": {"code": "conflict", "message": str(exc), "details": None}},
                status=status.HTTP_409_CONFLICT,
            )
        return super().handle_exception(exc)


class DsnKeySerializer(serializers.ModelSerializer):
    dsn = serializers.SerializerMethodField()
    created_by = serializers.EmailField(source="created_by.email", read_only=True, default=None)

    class Meta:
        model = DsnKey
        fields = ["id", "name", "public_key", "dsn", "created_by", "created_at", "revoked_at"]
        read_only_fields = fields

    def get_dsn(self, key: DsnKey) -> str:
        return dsn.dsn_of(key, self.context["base_url"])


class DsnKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class IssueSerializer(serializers.ModelSerializer):
    class Meta:
        model = Issue
        fields = [
            "id",
            "title",
            "culprit",
            "level",
            "status",
            "substatus",
            "first_seen",
            "last_seen",
            "event_count",
            "users_affected",
            "releases",
            "environments",
            "resolved_at",
            "resolved_in_release",
            "resolved_in_next_release",
            "ignored_until",
            "ignore_until_count",
            "ignore_window_seconds",
            "grouping_basis",
        ]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "id",
            "event_id",
            "received",
            "timestamp",
            "level",
            "title",
            "release",
            "environment",
            "platform",
            "trace_id",
            "span_id",
            "data",
        ]
        read_only_fields = fields


class IssueListParams(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[*IssueStatus.values, "all"], required=False, default="unresolved"
    )
    query = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    trace_id = serializers.RegexField(
        r"^[0-9a-fA-F]{32}$",
        required=False,
        default="",
        help_text="only issues with an event in this trace (32 hex characters)",
        error_messages={"invalid": "A trace id is 32 hexadecimal characters."},
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)


class EventListParams(serializers.Serializer):
    before = serializers.IntegerField(required=False, min_value=1)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)


class ResolveSerializer(serializers.Serializer):
    in_release = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    in_next_release = serializers.BooleanField(required=False, default=False)


class IgnoreSerializer(serializers.Serializer):
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    until_count = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=10_000_000, default=None
    )
    window_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=60,
        max_value=7 * 24 * 3600,
        default=None,
        help_text="with until_count: back when that many events arrive within this window",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["window_seconds"] is not None and data["until_count"] is None:
            raise serializers.ValidationError({"window_seconds": "A window needs until_count."})
        return data


class IssueHashSerializer(serializers.Serializer):
    hash = serializers.CharField(help_text='"vigil-v1:<hex>": what `split` takes')
    events = serializers.IntegerField(help_text="events with it among the issue's newest 10,000")
    last_seen = serializers.DateTimeField()
    basis = serializers.ListField(
        child=serializers.CharField(), help_text="what its newest event was grouped on"
    )


class SplitSerializer(serializers.Serializer):
    hashes = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1, max_length=50)


class MergeSerializer(serializers.Serializer):
    issue_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=100
    )


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class DsnKeyList(ConflictView):
    @extend_schema(
        description="The project's DSN keys with their DSNs, for Sentry SDKs (members).",
        responses=DsnKeySerializer(many=True),
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, access = get_project_for(request, project_id)
        require_member(access)
        keys = project.dsn_keys.select_related("created_by").order_by("revoked_at", "-created_at")
        context = {"base_url": dsn.base_url(request._request)}
        return Response(DsnKeySerializer(keys, many=True, context=context).data)

    @extend_schema(
        description="Issue a DSN key (admins and owners).",
        request=DsnKeyCreateSerializer,
        responses={201: DsnKeySerializer},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = get_project_for(request, project_id, need=Role.ADMIN)
        data = _valid(DsnKeyCreateSerializer, request.data)
        key = dsn.dsn_key_create(project, data["name"], request._request)
        context = {"base_url": dsn.base_url(request._request)}
        return Response(DsnKeySerializer(key, context=context).data, status=status.HTTP_201_CREATED)


class DsnKeyDetail(ConflictView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, project_id: int, dsn_key_id: int) -> Response:
        """Revoke the DSN key: SDKs using it are refused (403) from the next request on."""
        project, _ = get_project_for(request, project_id, need=Role.ADMIN)
        key = project.dsn_keys.select_related("project__organization").filter(pk=dsn_key_id).first()
        if key is None:
            raise Http404("No such DSN key.")
        dsn.dsn_key_revoke(key, request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class IssueList(ApiView):
    @extend_schema(parameters=[IssueListParams], responses=IssueSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        """The project's issues, most recently seen first; `status` is unresolved by default (or
        resolved, ignored, all); `query` matches the title; `trace_id` keeps the issues with an
        event in that trace."""
        project, _ = get_project_for(request, project_id)
        params = _valid(IssueListParams, request.query_params)
        status_ = "" if params["status"] == "all" else params["status"]
        issues = issues_of(project, status_, params["query"], params["trace_id"])
        return Response(IssueSerializer(issues[: params["limit"]], many=True).data)


class IssueDetail(ApiView):
    @extend_schema(responses=IssueSerializer)
    def get(self, request: Request, project_id: int, issue_id: int) -> Response:
        """One issue, with `grouping_basis`: the type and frames its events were grouped by."""
        issue, _ = get_issue_for(request, project_id, issue_id)
        return Response(IssueSerializer(issue).data)


class IssueEvents(ApiView):
    @extend_schema(parameters=[EventListParams], responses=EventSerializer(many=True))
    def get(self, request: Request, project_id: int, issue_id: int) -> Response:
        """The issue's events, newest first; pass `before=<id of the last one>` for the next page."""
        issue, _ = get_issue_for(request, project_id, issue_id)
        params = _valid(EventListParams, request.query_params)
        events = events_of(issue, params.get("before"))[: params["limit"]]
        return Response(EventSerializer(events, many=True).data)


class IssueResolve(ConflictView):
    @extend_schema(request=ResolveSerializer, responses=IssueSerializer)
    def post(self, request: Request, project_id: int, issue_id: int) -> Response:
        """Resolve (members and up): now, `in_release` (events of older releases do not reopen it),
        or `in_next_release` (the fix ships after the newest release seen)."""
        issue, _ = get_issue_for(request, project_id, issue_id, need=Role.MEMBER)
        data = _valid(ResolveSerializer, request.data)
        services.issue_resolve(issue, data["in_release"], data["in_next_release"])
        return Response(IssueSerializer(issue).data)


class IssueIgnore(ConflictView):
    @extend_schema(request=IgnoreSerializer, responses=IssueSerializer)
    def post(self, request: Request, project_id: int, issue_id: int) -> Response:
        """Ignore (members and up): for good, `until` a time, `until_count` more events, or
        `until_count` events within `window_seconds`."""
        issue, _ = get_issue_for(request, project_id, issue_id, need=Role.MEMBER)
        data = _valid(IgnoreSerializer, request.data)
        services.issue_ignore(issue, data["until"], data["until_count"], data["window_seconds"])
        return Response(IssueSerializer(issue).data)


class IssueUnresolve(ConflictView):
    @extend_schema(request=None, responses=IssueSerializer)
    def post(self, request: Request, project_id: int, issue_id: int) -> Response:
        """Back to unresolved (members and up), from resolved or ignored."""
        issue, _ = get_issue_for(request, project_id, issue_id, need=Role.MEMBER)
        services.issue_unresolve(issue)
        return Response(IssueSerializer(issue).data)


class IssueMerge(ConflictView):
    @extend_schema(request=MergeSerializer, responses=IssueSerializer)
    def post(self, request: Request, project_id: int, issue_id: int) -> Response:
        """Merge `issue_ids` into this issue (members and up): their events move here, and their
        future events too. Ids of issues of other projects are ignored."""
        issue, _ = get_issue_for(request, project_id, issue_id, need=Role.MEMBER)
        data = _valid(MergeSerializer, request.data)
        others = list(Issue.objects.filter(project_id=issue.project_id, pk__in=data["issue_ids"]))
        services.issue_merge(issue, others)
        return Response(IssueSerializer(issue).data)


class IssueHashes(ApiView):
    @extend_schema(responses=IssueHashSerializer(many=True))
    def get(self, request: Request, project_id: int, issue_id: int) -> Response:
        """The issue's grouping hashes (several after a merge), newest first, each with what it
        was grouped on: pick those to split off with `POST …/split`."""
        issue, _ = get_issue_for(request, project_id, issue_id)
        return Response(IssueHashSerializer(issue_hashes(issue), many=True).data)


class IssueSplit(ConflictView):
    @extend_schema(request=SplitSerializer, responses={201: IssueSerializer})
    def post(self, request: Request, project_id: int, issue_id: int) -> Response:
        """Split the events of `hashes` off into a new issue (members and up); their future events
        follow. 409 when none of the hashes is this issue's or no event would be left."""
        issue, _ = get_issue_for(request, project_id, issue_id, need=Role.MEMBER)
        data = _valid(SplitSerializer, request.data)
        new = services.issue_split(issue, data["hashes"])
        return Response(IssueSerializer(new).data, status=status.HTTP_201_CREATED)


# --- Release files (source maps), Sentry's API for sentry-cli: /api/0/projects/{org}/{project}/…


class TooLarge(ApiError):
    status = 413


class FileExists(ApiError):
    status = 409


def _release_project(request: Request, organization_id: int, project_id: int, version: str) -> Project:
    """The project of the URL's organization, for an admin or a manage key of it."""
    project, access = get_project_for(request, project_id)
    if "\x00" in version:  # PostgreSQL text cannot hold it: no release has it in its name
        raise BadRequest("A release version cannot contain a NUL character.", {"version": "NUL"})
    if project.organization_id != int(organization_id):
        raise Http404("No such project.")
    if not (access.can(Role.ADMIN) or access.is_manage_key):
        raise PermissionDenied(
            "This needs a manage key." if access.key else f"This needs the {Role.ADMIN} role or higher."
        )
    return project


def release_file_json(found: ReleaseFile) -> dict[str, Any]:
    """As Sentry answers it (sentry-cli reads `name`, `sha1`, `size`, `dist`)."""
    return {
        "id": str(found.pk),
        "name": found.name,
        "dist": found.dist or None,
        "headers": found.headers,
        "size": found.size,
        "sha1": found.sha1,
        "dateCreated": found.created_at,
    }


def _headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, colon, content = value.partition(":")
        if not colon or not name.strip():
            raise BadRequest("A header must read `Name: value`.", {"header": value[:200]})
        headers[name.strip()[:100].replace("\x00", "")] = content.strip()[:1000].replace("\x00", "")
    return headers


class ReleaseFiles(ApiView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="release_files_list")
    def get(self, request: Request, organization_id: int, project_id: int, version: str) -> Response:
        """The files uploaded for a release (sentry-cli's `releases files list`)."""
        project = _release_project(request, organization_id, project_id, version)
        files = ReleaseFile.objects.filter(project=project, release=version).defer("data")
        return Response([release_file_json(f) for f in files])

    @extend_schema(
        request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, operation_id="release_files_upload"
    )
    def post(self, request: Request, organization_id: int, project_id: int, version: str) -> Response:
        """Upload a minified file or a source map (multipart: `file`, `name` such as
        `~/static/js/main.min.js`, optional `dist` and `header`s), as sentry-cli and Sentry's docs'
        curl do, with a manage key as the bearer token."""
        project = _release_project(request, organization_id, project_id, version)
        upload = request.FILES.get("file")
        if upload is None:
            raise BadRequest("Send the file as the multipart field `file`.", {"file": "is required"})
        limit = settings.SOURCEMAP_MAX_BYTES
        if upload.size is None or upload.size > limit:
            raise TooLarge(f"Files larger than {limit} bytes are not kept.", {"limit": limit})
        name = str(request.data.get("name") or upload.name or "").strip()
        dist = str(request.data.get("dist") or "").strip()
        if "\x00" in name + dist:
            raise BadRequest("`name` and `dist` cannot contain a NUL character.")
        if not name or len(name) > 500 or len(dist) > 64 or not 0 < len(version) <= 200:
            raise BadRequest(
                "`name` (at most 500 characters), `dist` (64) and the version (200) are required sizes.",
                {"name": name[:100], "dist": dist[:100]},
            )
        try:
            stored = sourcemaps.release_file_upload(
                project, version, name, upload.read(), dist, _headers(request.data.getlist("header"))
            )
        except sourcemaps.ReleaseFileExists as exists:
            raise FileExists(str(exists)) from None
        return Response(release_file_json(stored), status=status.HTTP_201_CREATED)


# --- Chunk upload + artifact bundle assemble (sentry-cli's default `sourcemaps upload`) -------


SHA1 = re.compile(r"[0-9a-fA-F]{40}")


def _upload_organization(request: Request, organization_id: int) -> Organization:
    """The organization, for its admins or a manage key of one of its projects."""
    key = request.auth if isinstance(request.auth, KeyIdentity) else None
    if key is None:
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        return organization
    # Another organization's key of any scope learns nothing: 404 before the scope's 403.
    if not Project.objects.filter(pk=key.project_id, organization_id=int(organization_id)).exists():
        raise Http404("No such organization.")
    project, access = get_project_for(request, key.project_id)
    if not access.is_manage_key:
        raise PermissionDenied("This needs a manage key.")
    return project.organization


class ChunkUpload(ApiView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="chunk_upload_options")
    def get(self, request: Request, organization_id: int) -> Response:
        """Chunk upload options, as sentry-cli asks for them before uploading an artifact bundle."""
        _upload_organization(request, organization_id)
        url = request.build_absolute_uri(request.path)
        return Response(artifact_bundles.chunk_options(url, settings.SOURCEMAP_MAX_BYTES))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, operation_id="chunk_upload")
    def post(self, request: Request, organization_id: int) -> Response:
        """Chunks of a bundle: multipart `file` (or gzipped `file_gzip`) parts named by their sha1."""
        organization = _upload_organization(request, organization_id)
        chunks = [(f.name or "", f.read(), False) for f in request.FILES.getlist("file")]
        chunks += [(f.name or "", f.read(), True) for f in request.FILES.getlist("file_gzip")]
        if len(chunks) > artifact_bundles.CHUNKS_PER_REQUEST:
            raise BadRequest(f"At most {artifact_bundles.CHUNKS_PER_REQUEST} chunks per request.")
        try:
            artifact_bundles.chunks_store(organization, chunks)
        except artifact_bundles.ChunkRefused as refused:
            raise BadRequest(str(refused)) from None
        return Response({}, status=status.HTTP_200_OK)


class BundleAssemble(ApiView):
    @extend_schema(
        request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, operation_id="artifact_bundle_assemble"
    )
    def post(self, request: Request, organization_id: int) -> Response:
        """Assemble uploaded chunks into an artifact bundle (`{checksum, chunks, projects, version,
        dist}`): `not_found` with the missing chunks, `ok` once its files are stored, or `error`."""
        organization = _upload_organization(request, organization_id)
        data = request.data if isinstance(request.data, dict) else {}
        checksum, chunks, names = data.get("checksum"), data.get("chunks"), data.get("projects")
        if (
            not isinstance(checksum, str)
            or not isinstance(chunks, list)
            or not all(isinstance(c, str) and SHA1.fullmatch(c) for c in [checksum, *chunks])
            or not isinstance(names, list)
            or not names
        ):
            raise BadRequest("Send {checksum: sha1, chunks: [sha1, …], projects: [project id, …]}.")
        projects = []
        for name in names:
            project, _ = get_project_for(request, name)
            if project.organization_id != organization.pk:
                raise Http404("No such project.")
            projects.append(project)
        if not (isinstance(request.auth, KeyIdentity) or all(_can_admin(request, p) for p in projects)):
            raise PermissionDenied(f"This needs the {Role.ADMIN} role or higher.")
        assembly = artifact_bundles.bundle_assemble(
            organization,
            projects,
            checksum,
            chunks,
            str(data.get("version") or "")[:200].replace("\x00", ""),
            str(data.get("dist") or "")[:64].replace("\x00", ""),
        )
        return Response(
            {"state": assembly.state, "missingChunks": assembly.missing, "detail": assembly.detail}
        )


def _can_admin(request: Request, project: Project) -> bool:
    return get_project_for(request, project.pk)[1].can(Role.ADMIN)
