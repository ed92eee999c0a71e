"""Alerts API: policies (with a backtest preview), incidents (ack / resolve) and heartbeats.

Access (DESIGN.md §5), always through get_project_for, so other tenants get 404:
  read (GET, previews)         a viewer, or a project read key
  acknowledge / resolve        a member
  create / change / delete     an admin, or a manage key (`vgl_manage_…`, alerts as code) of the
                               project (policies and heartbeats; each change audited with the key)
Read keys only read; ingest keys get 403 everywhere here. Bad bodies are 400 with each bad field in details.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.alerts import backtest, selectors, services
from apps.alerts.incidents import IncidentClosed, incident_acknowledge, incident_resolve
from apps.alerts.models import Heartbeat, Incident, IncidentState, Policy
from apps.alerts.serializers import (
    heartbeat_fields,
    heartbeat_json,
    incident_json,
    policy_fields,
    policy_json,
)
from apps.alerts.specs import SpecError
from apps.api import timerange as params
from apps.api.errors import BadParameter, error_body
from apps.api.views import ApiView
from apps.projects.models import Project, Role
from apps.projects.scoping import Access, get_organization_for, get_project_for

POLICY_EXAMPLE = OpenApiExample(
    "API error rate",
    value={
        "name": "API error rate",
        "kind": "log_ratio",
        "query": "level>=error service:api",
        "condition": {"op": ">", "threshold": 10, "window": "5m"},
        "for": "5m",
        "keep_firing_for": "0s",
        "interval": "60s",
        "priority": "P1",
        "labels": {"team": "core"},
        "runbook_url": "https://runbooks.example.com/api-errors",
        "enabled": True,
    },
    request_only=True,
)
METRIC_EXAMPLE = OpenApiExample(
    "CPU per host",
    value={
        "name": "CPU > 80 %",
        "kind": "metric",
        "metric": {"name": "system.cpu.utilization", "agg": "avg", "group_by": ["host.name"]},
        "condition": {"op": ">", "threshold": 0.8, "window": "5m", "resolve_threshold": 0.7},
        "for": "5m",
        "priority": "P3",
    },
    request_only=True,
)
ISSUE_EVENTS_EXAMPLE = OpenApiExample(
    "100 events of one error issue in an hour",
    value={
        "name": "Checkout errors spiking",
        "kind": "issue_events",
        "spec": {"issue_id": None, "per_issue": True, "environment": "production"},
        "condition": {"op": ">=", "threshold": 100, "window": "1h"},
        "priority": "P2",
    },
    request_only=True,
)
NEW_ISSUE_EXAMPLE = OpenApiExample(
    "Every new error issue",
    value={"name": "New issues", "kind": "new_issue", "spec": {}, "condition": {"op": ">", "threshold": 0}},
    request_only=True,
)
MAX_INCIDENTS = 500


class AlertsView(ApiView):
    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, SpecError):
            return Response(error_body(400, "Invalid input.", exc.errors), status=status.HTTP_400_BAD_REQUEST)
        if isinstance(exc, BadParameter):
            return Response(
                error_body(400, str(exc), {"parameter": exc.name}), status=status.HTTP_400_BAD_REQUEST
            )
        if isinstance(exc, IncidentClosed):
            return Response(error_body(409, str(exc), code="conflict"), status=status.HTTP_409_CONFLICT)
        return super().handle_exception(exc)


def project_for_writing(request: Request, project_id: Any) -> tuple[Project, Access]:
    """The project, for an admin or a manage key of it; 403 for anyone else who may see it."""
    project, access = get_project_for(request, project_id)
    if not (access.can(Role.ADMIN) or access.is_manage_key):
        raise PermissionDenied(
            "This needs a manage key." if access.key else f"This needs the {Role.ADMIN} role or higher."
        )
    return project, access


def actor_of(request: Request, access: Access) -> tuple[Any, Any]:
    """(user, key) for services and the audit log."""
    if access.key is not None:
        from apps.projects.models import ApiKey

        return None, ApiKey.objects.filter(pk=access.key.id).first()
    return request.user, None


def _policy(project: Project, policy_id: Any) -> Policy:
    try:
        return Policy.objects.select_related("project__organization").get(project=project, pk=int(policy_id))
    except (Policy.DoesNotExist, TypeError, ValueError):
        raise Http404("No such policy.") from None


def _incident(project: Project, incident_id: Any) -> Incident:
    try:
        return Incident.objects.select_related("acknowledged_by", "resolved_by").get(
            project=project, pk=int(incident_id)
        )
    except (Incident.DoesNotExist, TypeError, ValueError):
        raise Http404("No such incident.") from None


def _heartbeat(project: Project, heartbeat_id: Any) -> Heartbeat:
    try:
        return Heartbeat.objects.select_related("policy", "project__organization").get(
            project=project, pk=int(heartbeat_id)
        )
    except (Heartbeat.DoesNotExist, TypeError, ValueError):
        raise Http404("No such heartbeat.") from None


class PolicyList(AlertsView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="alerts_policies_list")
    def get(self, request: Request, project_id: int) -> Response:
        """Policies of the project with the state of each of their instances."""
        project, _ = get_project_for(request, project_id)
        policies = list(Policy.objects.filter(project=project).prefetch_related("instances__incident"))
        recent_values = selectors.policies_recent_values(policies)
        body = []
        for policy in policies:
            result = policy_json(policy, list(policy.instances.all()))
            for instance in result["instances"]:
                instance["recent_values"] = recent_values.get(instance["id"], [])
            body.append(result)
        return Response(body)

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        examples=[POLICY_EXAMPLE, METRIC_EXAMPLE, NEW_ISSUE_EXAMPLE, ISSUE_EVENTS_EXAMPLE],
    )
    def post(self, request: Request, project_id: int) -> Response:
        """Create a policy (admins, or a manage key)."""
        project, access = project_for_writing(request, project_id)
        user, key = actor_of(request, access)
        policy = services.policy_create(project, policy_fields(request.data), user, key)
        return Response(policy_json(policy, []), status=status.HTTP_201_CREATED)


class PolicyDetail(AlertsView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project_id: int, policy_id: int) -> Response:
        """One policy with the state of each of its instances."""
        project, _ = get_project_for(request, project_id)
        policy = _policy(project, policy_id)
        return Response(policy_json(policy, list(policy.instances.select_related("incident"))))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, examples=[POLICY_EXAMPLE])
    def patch(self, request: Request, project_id: int, policy_id: int) -> Response:
        """Change some fields of a policy; the audit log records before/after of each."""
        project, access = project_for_writing(request, project_id)
        policy = _policy(project, policy_id)
        user, key = actor_of(request, access)
        policy = services.policy_update(policy, policy_fields(request.data, policy), user, key)
        return Response(policy_json(policy, list(policy.instances.select_related("incident"))))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, project_id: int, policy_id: int) -> Response:
        """Delete a policy with its instances, incidents and transitions (audited)."""
        project, access = project_for_writing(request, project_id)
        policy = _policy(project, policy_id)
        user, key = actor_of(request, access)
        services.policy_delete(policy, user, key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PolicyPreview(AlertsView):
    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        description=(
            "Backtest: the policy (with any fields of the body applied, unsaved) evaluated over"
            " [start, end) (default the last 24 h, at most 7 days): values per group, the threshold,"
            " and the transitions it would have made. Body: {start?, end?, policy?: {...fields}}."
        ),
    )
    def post(self, request: Request, project_id: int, policy_id: int) -> Response:
        project, _ = get_project_for(request, project_id)
        policy = _policy(project, policy_id)
        body = request.data if isinstance(request.data, dict) else {}
        if "policy" in body:
            for name, value in policy_fields(body["policy"], policy).items():
                setattr(policy, name, value)
            services.check_policy(policy)
        return _backtest(policy, body)


def _backtest(policy: Policy, body: dict[str, Any]) -> Response:
    start, end = body.get("start") or "-24h", body.get("end") or "now"
    if not isinstance(start, str) or not isinstance(end, str):
        raise BadParameter("start", "start and end are strings (ISO 8601 or relative like -24h).")
    now = timezone.now()
    window = params.parse_range(start, end, now)
    if window.span > backtest.MAX_RANGE:
        raise BadParameter("start", "A preview spans at most 7 days.")
    return Response(backtest.backtest(policy, window.start, window.end))


class UnsavedPolicyPreview(AlertsView):
    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        examples=[
            OpenApiExample(
                "Before creating it",
                value={"policy": POLICY_EXAMPLE.value, "start": "-24h"},
                request_only=True,
            )
        ],
        description=(
            "Backtest of a policy that is not saved (the create form's preview): `policy` is a"
            " body as POST .../alerts/policies takes it, validated the same way (400 naming the"
            " fields); the answer is that of .../policies/{policy_id}/preview. Nothing is written."
        ),
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = get_project_for(request, project_id)
        body = request.data if isinstance(request.data, dict) else {}
        if "policy" not in body:
            raise SpecError({"policy": "is required: the policy body to preview"})
        policy = Policy(project=project, **policy_fields(body["policy"]))
        services.check_policy(policy)
        return _backtest(policy, body)


class OrganizationAlertSummary(AlertsView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="alerts_organization_summary")
    def get(self, request: Request, organization_id: int) -> Response:
        """Per project of the organization: enabled policies, open incidents (firing or
        acknowledged) and firing ones — the org home's incidents cells (members)."""
        organization, _ = get_organization_for(request, organization_id)
        summaries = selectors.organization_alert_summaries(organization.pk)
        return Response(
            {
                "projects": [
                    {
                        "project": project_id,
                        "policies": summary.policies,
                        "open_incidents": summary.open_incidents,
                        "firing": summary.firing,
                    }
                    for project_id, summary in summaries.items()
                ]
            }
        )


class IncidentList(AlertsView):
    @extend_schema(
        operation_id="alerts_incidents_list",
        parameters=[
            OpenApiParameter(
                "state", str, enum=IncidentState.values, description="Only incidents in this state."
            ),
            OpenApiParameter("limit", int, description="1 to 500, default 100; newest first."),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, project_id: int) -> Response:
        """Incidents of the project, newest first, optionally only those in one state."""
        project, _ = get_project_for(request, project_id)
        incidents = Incident.objects.filter(project=project).select_related("acknowledged_by", "resolved_by")
        state = request.query_params.get("state")
        if state:
            if state not in IncidentState.values:
                raise BadParameter("state", f"state must be one of {', '.join(IncidentState.values)}.")
            incidents = incidents.filter(state=state)
        limit = params.parse_limit(request.query_params.get("limit"), default=100, maximum=MAX_INCIDENTS)
        return Response([incident_json(i) for i in incidents[:limit]])


class IncidentDetail(AlertsView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project_id: int, incident_id: int) -> Response:
        """The incident with its timeline of transitions."""
        project, _ = get_project_for(request, project_id)
        incident = _incident(project, incident_id)
        transitions = list(incident.transitions.select_related("actor"))
        return Response(incident_json(incident, transitions))


class IncidentAcknowledge(AlertsView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project_id: int, incident_id: int) -> Response:
        """Acknowledge a firing incident (members); 409 if it is resolved or acknowledged already."""
        project, _ = get_project_for(request, project_id, need=Role.MEMBER)
        incident_acknowledge(_incident(project, incident_id), request.user)
        return Response(incident_json(_incident(project, incident_id)))


class IncidentResolve(AlertsView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project_id: int, incident_id: int) -> Response:
        """Resolve an open incident by hand (members); if the condition still holds, the next
        evaluation opens a new one."""
        project, _ = get_project_for(request, project_id, need=Role.MEMBER)
        incident_resolve(_incident(project, incident_id), request.user)
        return Response(incident_json(_incident(project, incident_id)))


def _ping_url(request: Request, heartbeat: Heartbeat) -> str:
    return request.build_absolute_uri(f"/ping/{heartbeat.uuid}")


class HeartbeatList(AlertsView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="heartbeats_list")
    def get(self, request: Request, project_id: int) -> Response:
        """Heartbeat monitors of the project with their status and ping URL."""
        project, _ = get_project_for(request, project_id)
        now = timezone.now()
        return Response(
            [heartbeat_json(h, _ping_url(request, h), now) for h in Heartbeat.objects.filter(project=project)]
        )

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        examples=[
            OpenApiExample(
                "Every hour", value={"name": "sync", "period": "1h", "grace": "10m"}, request_only=True
            ),
            OpenApiExample(
                "Nightly, Berlin time",
                value={"name": "backup", "cron": "30 2 * * *", "tz": "Europe/Berlin", "grace": "30m"},
                request_only=True,
            ),
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        """Create a monitor; the answer carries its ping_url (GET or POST it, /start, /fail)."""
        project, access = project_for_writing(request, project_id)
        fields = heartbeat_fields(request.data, partial=False)
        priority = fields.pop("priority", None) or "P2"
        user, key = actor_of(request, access)
        heartbeat = services.heartbeat_create(project, fields, user, key, priority=priority)
        body = heartbeat_json(heartbeat, _ping_url(request, heartbeat), timezone.now())
        return Response(body, status=status.HTTP_201_CREATED)


class HeartbeatDetail(AlertsView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project_id: int, heartbeat_id: int) -> Response:
        """One heartbeat monitor: schedule, status, last pings and ping URL."""
        project, _ = get_project_for(request, project_id)
        heartbeat = _heartbeat(project, heartbeat_id)
        return Response(heartbeat_json(heartbeat, _ping_url(request, heartbeat), timezone.now()))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request, project_id: int, heartbeat_id: int) -> Response:
        """Change a monitor's name, schedule or grace time (audited)."""
        project, access = project_for_writing(request, project_id)
        heartbeat = _heartbeat(project, heartbeat_id)
        user, key = actor_of(request, access)
        heartbeat = services.heartbeat_update(
            heartbeat, heartbeat_fields(request.data, partial=True), user, key
        )
        return Response(heartbeat_json(heartbeat, _ping_url(request, heartbeat), timezone.now()))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, project_id: int, heartbeat_id: int) -> Response:
        """Delete a monitor and the policy that watches it (audited)."""
        project, access = project_for_writing(request, project_id)
        user, key = actor_of(request, access)
        services.heartbeat_delete(_heartbeat(project, heartbeat_id), user, key)
        return Response(status=status.HTTP_204_NO_CONTENT)
