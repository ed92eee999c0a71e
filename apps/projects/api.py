"""Management API: organizations, projects, API keys, members, invitations, audit log.

Signed-in members use it with their session (CSRF applies); project keys cannot manage
anything here (403), and ids of other tenants are always 404.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.views import ApiView
from apps.audit import Actor
from apps.audit.selectors import AuditFilter, audit_events_for
from apps.projects import services
from apps.projects.models import ApiKey, Invitation, KeyScope, Membership, Organization, Project, Role
from apps.projects.scoping import Access, get_member_for, get_organization_for, get_project_for


def require_member(access: Access) -> None:
    if access.key is not None:
        raise PermissionDenied("API keys read telemetry; managing projects needs a signed-in member.")


class OrganizationSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["id", "name", "created_at", "role"]
        read_only_fields = ["id", "created_at", "role"]

    def get_role(self, organization: Organization) -> str | None:
        return self.context.get("roles", {}).get(organization.pk)


class NameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, allow_blank=False, trim_whitespace=True)


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "organization", "name", "created_at"]
        read_only_fields = fields


class ApiKeySerializer(serializers.ModelSerializer):
    masked = serializers.CharField(read_only=True)
    created_by = serializers.EmailField(source="created_by.email", read_only=True, default=None)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "scope",
            "prefix",
            "masked",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    scope = serializers.ChoiceField(choices=KeyScope.choices)


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "role", "created_at"]
        read_only_fields = ["id", "email", "created_at"]


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "created_at", "expires_at", "accepted_at"]
        read_only_fields = ["id", "created_at", "expires_at", "accepted_at"]
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {"email": {"validators": []}}


class OrganizationList(ApiView):
    @extend_schema(
        description="The organizations the signed-in user belongs to, with their role in each. Session "
        "only: a project key is refused (403).",
        responses=OrganizationSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        if request.auth is not None:
            raise PermissionDenied("API keys belong to a project, not to an organization.")
        memberships = Membership.objects.filter(user=request.user).select_related("organization")
        roles = {m.organization_id: m.role for m in memberships}
        organizations = [m.organization for m in memberships]
        return Response(OrganizationSerializer(organizations, many=True, context={"roles": roles}).data)

    @extend_schema(
        description="Create an organization; the signed-in user becomes its owner.",
        request=NameSerializer,
        responses={201: OrganizationSerializer},
    )
    def post(self, request: Request) -> Response:
        if request.auth is not None:
            raise PermissionDenied("API keys cannot create organizations.")
        data = _valid(NameSerializer, request)
        organization = services.organization_create(data["name"], by=Actor.from_request(request))
        body = OrganizationSerializer(organization, context={"roles": {organization.pk: Role.OWNER}}).data
        return Response(body, status=status.HTTP_201_CREATED)


class OrganizationDetail(ApiView):
    @extend_schema(
        description="One organization the user belongs to, with their role; 404 for any other.",
        responses=OrganizationSerializer,
    )
    def get(self, request: Request, organization_id: int) -> Response:
        organization, access = get_organization_for(request, organization_id)
        roles = {organization.pk: access.membership.role if access.membership else None}
        return Response(OrganizationSerializer(organization, context={"roles": roles}).data)

    @extend_schema(
        description="Rename the organization (admins and owners).",
        request=NameSerializer,
        responses=OrganizationSerializer,
    )
    def patch(self, request: Request, organization_id: int) -> Response:
        organization, access = get_organization_for(request, organization_id, need=Role.ADMIN)
        data = _valid(NameSerializer, request)
        services.organization_update(organization, data["name"], by=Actor.from_request(request))
        roles = {organization.pk: access.membership.role if access.membership else None}
        return Response(OrganizationSerializer(organization, context={"roles": roles}).data)

    @extend_schema(
        description="Delete the organization with its projects and all their data (owners only).",
        responses={204: None},
    )
    def delete(self, request: Request, organization_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id, need=Role.OWNER)
        services.organization_delete(organization, by=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectList(ApiView):
    @extend_schema(
        description="The organization's projects, by name.", responses=ProjectSerializer(many=True)
    )
    def get(self, request: Request, organization_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id)
        return Response(ProjectSerializer(organization.projects.order_by("name"), many=True).data)

    @extend_schema(
        description="Create a project in the organization (admins and owners).",
        request=NameSerializer,
        responses={201: ProjectSerializer},
    )
    def post(self, request: Request, organization_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        data = _valid(NameSerializer, request)
        project = services.project_create(organization, data["name"], by=Actor.from_request(request))
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetail(ApiView):
    @extend_schema(
        description="One project; 404 when it belongs to an organization the caller is not in.",
        responses=ProjectSerializer,
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = get_project_for(request, project_id)
        return Response(ProjectSerializer(project).data)

    @extend_schema(
        description="Rename the project (admins and owners).",
        request=NameSerializer,
        responses=ProjectSerializer,
    )
    def patch(self, request: Request, project_id: int) -> Response:
        project, _ = get_project_for(request, project_id, need=Role.ADMIN)
        data = _valid(NameSerializer, request)
        services.project_rename(project, data["name"], by=Actor.from_request(request))
        return Response(ProjectSerializer(project).data)

    @extend_schema(
        description="Delete the project and all its telemetry (admins and owners).", responses={204: None}
    )
    def delete(self, request: Request, project_id: int) -> Response:
        project, _ = get_project_for(request, project_id, need=Role.ADMIN)
        services.project_delete(project, by=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyList(ApiView):
    @extend_schema(
        description="The project's API keys (prefix, scope, who created them, revoked or not); never the "
        "secrets.",
        responses=ApiKeySerializer(many=True),
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, access = get_project_for(request, project_id)
        require_member(access)
        keys = project.api_keys.select_related("created_by")
        return Response(ApiKeySerializer(keys, many=True).data)

    @extend_schema(
        description="Issue a key of scope `ingest` or `read` (admins and owners). The secret is in this "
        "answer only.",
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeySerializer},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = get_project_for(request, project_id, need=Role.ADMIN)
        data = _valid(ApiKeyCreateSerializer, request)
        key, secret = services.api_key_create(
            project, data["scope"], data["name"], by=Actor.from_request(request)
        )
        body = {**ApiKeySerializer(key).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class ApiKeyDetail(ApiView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, project_id: int, key_id: int) -> Response:
        """Revoke the key (it stays listed, marked revoked)."""
        project, _ = get_project_for(request, project_id, need=Role.ADMIN)
        key = project.api_keys.filter(pk=key_id).first()
        if key is None:
            raise Http404("No such key.")
        services.api_key_revoke(key, by=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberList(ApiView):
    @extend_schema(
        description="The organization's members and their roles.", responses=MembershipSerializer(many=True)
    )
    def get(self, request: Request, organization_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id)
        return Response(MembershipSerializer(organization.memberships.select_related("user"), many=True).data)


class MemberDetail(ApiView):
    @extend_schema(
        description="Change a member's role (admins, for roles below owner; owners for any). The last "
        "owner keeps the role.",
        request=RoleSerializer,
        responses=MembershipSerializer,
    )
    def patch(self, request: Request, organization_id: int, membership_id: int) -> Response:
        organization, access = get_organization_for(request, organization_id, need=Role.ADMIN)
        assert access.membership is not None
        target = get_member_for(organization, membership_id)
        data = _valid(RoleSerializer, request)
        services.membership_set_role(access.membership, target, data["role"], by=Actor.from_request(request))
        return Response(MembershipSerializer(target).data)

    @extend_schema(
        description="Remove a member (admins and owners), or leave the organization (anyone, for "
        "themselves). The last owner cannot leave.",
        responses={204: None},
    )
    def delete(self, request: Request, organization_id: int, membership_id: int) -> Response:
        organization, access = get_organization_for(request, organization_id)
        assert access.membership is not None
        target = get_member_for(organization, membership_id)
        if target.pk != access.membership.pk and not access.membership.can(Role.ADMIN):
            raise PermissionDenied("Only admins and owners can remove members.")
        services.membership_remove(access.membership, target, by=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationList(ApiView):
    @extend_schema(
        description="Pending invitations of the organization (admins and owners).",
        responses=InvitationSerializer(many=True),
    )
    def get(self, request: Request, organization_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        return Response(
            InvitationSerializer(organization.invitations.filter(accepted_at__isnull=True), many=True).data
        )

    @extend_schema(
        description="Invite an email address with a role (admins and owners); the link is mailed and valid "
        "for INVITATION_TTL_DAYS.",
        request=InvitationSerializer,
        responses={201: InvitationSerializer},
    )
    def post(self, request: Request, organization_id: int) -> Response:
        organization, access = get_organization_for(request, organization_id, need=Role.ADMIN)
        assert access.membership is not None
        data = _valid(InvitationSerializer, request)
        invitation, _ = services.invitation_create(
            organization,
            data["email"],
            data["role"],
            access.membership,
            by=Actor.from_request(request),
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetail(ApiView):
    @extend_schema(description="Revoke a pending invitation (admins and owners).", responses={204: None})
    def delete(self, request: Request, organization_id: int, invitation_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        invitation = organization.invitations.filter(pk=invitation_id, accepted_at__isnull=True).first()
        if invitation is None:
            raise Http404("No such invitation.")
        services.invitation_revoke(invitation, by=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    action = serializers.CharField()
    actor = serializers.CharField()
    actor_key_prefix = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target_repr = serializers.CharField()
    ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    request_id = serializers.CharField()
    changes = serializers.JSONField()


class AuditQuerySerializer(serializers.Serializer):
    # DRF's CharField refuses NUL; the bounds are those of the column and of a bigint id.
    action = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    before = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


class AuditList(ApiView):
    @extend_schema(parameters=[AuditQuerySerializer], responses=AuditEventSerializer(many=True))
    def get(self, request: Request, organization_id: int) -> Response:
        """Newest first, 100 per page; pass `before=<id of the last event>` for the next page."""
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        query = AuditQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        events = audit_events_for(organization, AuditFilter(action=query.validated_data["action"]))
        if before := query.validated_data.get("before"):
            events = events.filter(id__lt=before)
        return Response(AuditEventSerializer(events[:100], many=True).data)


def _valid(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
