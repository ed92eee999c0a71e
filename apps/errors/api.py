"""Issues API and DSN keys API (/api/v1/projects/{id}/issues…, …/dsn-keys…).

Read keys and every member read; members and up act on issues (resolve, ignore, merge); admins
manage DSN keys. Other tenants get 404 (scoping.py).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.views import ApiView
from apps.errors import dsn, services
from apps.errors.models import DsnKey, Event, Issue, IssueStatus
from apps.errors.selectors import events_of, get_issue_for, issues_of
from apps.projects.models import Role
from apps.projects.scoping import Access, get_project_for


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
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)


class EventListParams(serializers.Serializer):
    before = serializers.IntegerField(required=False, min_value=1)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)


class ResolveSerializer(serializers.Serializer):
    in_release = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    in_next_release = serializers.BooleanField(required=False, default=False)


class IgnoreSerializer(serializers.Serializer):
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    until_count = serializers.IntegerField(required=False, allow_null=True, min_value=1, default=None)


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
        resolved, ignored, all); `query` matches the title."""
        project, _ = get_project_for(request, project_id)
        params = _valid(IssueListParams, request.query_params)
        issues = issues_of(project, "" if params["status"] == "all" else params["status"], params["query"])
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
        """Ignore (members and up): for good, `until` a time, or `until_count` more events."""
        issue, _ = get_issue_for(request, project_id, issue_id, need=Role.MEMBER)
        data = _valid(IgnoreSerializer, request.data)
        services.issue_ignore(issue, data["until"], data["until_count"])
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
