"""`GET /api/v1/orgs/{org_id}/usage`: the usage page's data for scripts (a signed-in member)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps import audit
from apps.api.views import ApiView
from apps.audit import Actor
from apps.billing import providers, selectors, spikes
from apps.projects.models import Organization, Project, Role
from apps.projects.scoping import Access, get_organization_for, get_project_for


def visible_projects(organization: Organization, access: Access) -> QuerySet[Project]:
    """The organization's projects this member may see (all of them for owners and admins)."""
    if access.can_admin:
        return organization.projects.order_by("name")
    assert access.membership is not None
    return (
        Project.objects.for_member(access.membership.user).filter(organization=organization).order_by("name")
    )


def usage_report(organization: Organization, access: Access, params: Any) -> dict[str, Any]:
    """Owners and admins see the whole organization and its quota; other members see the usage
    of the projects they can see, without the plan's figures."""
    now = datetime.now(UTC)
    project_ids = None
    if not access.can_admin:
        project_ids = visible_projects(organization, access).values_list("pk", flat=True)
    try:
        query = selectors.parse_query(organization.pk, params, now, project_ids)
    except selectors.UsageQueryError as exc:
        raise serializers.ValidationError({"query": str(exc)}) from None
    report: dict[str, Any] = {"organization_id": organization.pk, **selectors.usage(query)}
    if access.can_admin:
        report["quota"] = selectors.quota_status(organization.pk, now)
    return report


class UsageView(ApiView):
    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="ISO date or date-time (UTC); default: period start"),
            OpenApiParameter("end", str, description="ISO date or date-time (UTC); default: now"),
            OpenApiParameter("group_by", str, description="comma-separated: project, signal, reason"),
            OpenApiParameter("step", str, description="hour (last 48 h) or day"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request, organization_id: int) -> Response:
        """Accepted and dropped records (by reason) per bucket, totals, metering gaps, and for
        admins the quota with the projection to the period's end."""
        organization, access = get_organization_for(request, organization_id, need=Role.VIEWER)
        return Response(usage_report(organization, access, request.query_params))


class SpikeProtectionView(ApiView):
    @extend_schema(responses={200: dict})
    def get(self, request: Request, project_id: int) -> Response:
        """Whether spike protection is on for the project, and this hour's allowance (records)."""
        project, _ = get_project_for(request, project_id)
        return Response(_spike_json(project))

    @extend_schema(request={"application/json": {"type": "object"}}, responses={200: dict})
    def put(self, request: Request, project_id: int) -> Response:
        """`{"enabled": true|false}`: turn spike protection on or off (admins; audited)."""
        project, _ = get_project_for(request, project_id, need=Role.ADMIN)
        enabled = request.data.get("enabled") if isinstance(request.data, dict) else None
        if not isinstance(enabled, bool):
            raise serializers.ValidationError({"enabled": "must be true or false"})
        spikes.spike_protection_set(project, enabled, by=Actor.from_request(request))
        return Response(_spike_json(project))


def _spike_json(project: Project) -> dict[str, Any]:
    return {
        "project_id": project.pk,
        "enabled": spikes.is_enabled(project),
        "allowance_this_hour": spikes.allowance_now(project.pk),
    }


@csrf_exempt  # authenticated by the provider's signature, not a session
@login_not_required
@require_POST
def provider_webhook(request: HttpRequest) -> HttpResponse:
    """POST /api/v1/billing/webhook: an event from the configured billing provider, signed per
    Standard Webhooks. 401 when the signature does not verify; applying an event twice is harmless."""
    provider = providers.get()
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        event = provider.verify_webhook(request.body, headers)
        result = provider.apply_webhook(event)
    except providers.InvalidWebhook as exc:
        body = {"error": {"code": "invalid_webhook", "message": str(exc), "details": None}}
        return JsonResponse(body, status=401)
    audit.record(
        "billing.webhook", extra={"provider": provider.name, "type": event["type"], "result": result}
    )
    return JsonResponse({"result": result})
