"""Channels API: `/api/v1/orgs/{org_id}/alerts/channels[/{channel_id}[/test|/rotate-secret|/deliveries]]`
and routes `/api/v1/orgs/{org_id}/alerts/routes[/{route_id}]`.

Access (DESIGN.md §5), always through get_organization_for, so other tenants get 404: everything
here is an admin's (channel configs hold secrets — a Slack webhook URL *is* one). Every
create/change/delete is audited. A webhook channel's `secret` is in the answer of its creation and
of a rotation only.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.alerts.models import Policy, Priority
from apps.api.errors import error_body
from apps.api.views import ApiView
from apps.notifications import channels as services
from apps.notifications.channels import ChannelError
from apps.notifications.models import Attempt, Channel, ChannelKind, Delivery, Route
from apps.projects.models import Organization, Role
from apps.projects.scoping import get_organization_for

WEBHOOK_EXAMPLE = OpenApiExample(
    "Signed webhook",
    value={"name": "Ops webhook", "kind": "webhook", "config": {"url": "https://hooks.example.com/vigil"}},
    request_only=True,
)
PAGERDUTY_EXAMPLE = OpenApiExample(
    "PagerDuty",
    value={
        "name": "On-call",
        "kind": "pagerduty",
        "config": {"routing_key": "R0UT1NGKEY"},
        "is_default": True,
    },
    request_only=True,
)
EMAIL_EXAMPLE = OpenApiExample(
    "Email to the admins",
    value={"name": "Admins", "kind": "email", "config": {"role": "admin"}},
    request_only=True,
)
WEBHOOK_BODY_EXAMPLE = OpenApiExample(
    "Webhook body (signed with webhook-id, webhook-timestamp, webhook-signature)",
    value={
        "type": "alert.firing",
        "timestamp": "2026-12-06T20:00:00+00:00",
        "data": {
            "title": "[FIRING] API error rate",
            "summary": "API error rate: 14.2 > 10 (service=api)",
            "priority": "P1",
            "incident": {"id": 42, "state": "firing"},
            "policy": {"id": 7, "name": "API error rate", "kind": "log_ratio", "priority": "P1"},
            "project": {"id": 3, "name": "web"},
            "value": 14.2,
            "threshold": 10,
            "labels": {"service": "api"},
            "links": {"incident": "https://vigil.example.com/projects/3/alerts/incidents/42"},
            "context": {"lines": [{"time": "…", "service": "api", "level": "error", "message": "…"}]},
            "alerts": ["…one entry per instance in this message…"],
        },
    },
    response_only=True,
)
MAX_DELIVERIES = 200


class ChannelsView(ApiView):
    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ChannelError):
            return Response(error_body(400, "Invalid input.", exc.errors), status=status.HTTP_400_BAD_REQUEST)
        return super().handle_exception(exc)


def channel_json(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.pk,
        "name": channel.name,
        "kind": channel.kind,
        "config": channel.config,
        "is_default": channel.is_default,
        "send_resolved": channel.send_resolved,
        "enabled": channel.enabled,
        "warning": channel.warning or None,
        "warning_at": channel.warning_at.isoformat() if channel.warning_at else None,
        "has_secret": bool(channel.secret),
        "created_at": channel.created_at.isoformat(),
    }


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "at": attempt.at.isoformat(),
        "status_code": attempt.status_code,
        "response": attempt.response_excerpt,
        "error": attempt.error or None,
        "outcome": attempt.outcome,
        "duration_ms": attempt.duration_ms,
    }


BOOLEAN_FIELDS = ("is_default", "send_resolved", "enabled")


def channel_fields(data: Any, partial: bool) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ChannelError({"body": "must be a JSON object"})
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {}
    unknown = set(data) - {"name", "kind", "config", *BOOLEAN_FIELDS}
    if unknown:
        errors.update({name: "is not a channel field" for name in sorted(unknown)})
    if "kind" in data:
        if partial:
            errors["kind"] = "cannot be changed; create another channel"
        elif data["kind"] not in ChannelKind.values:
            errors["kind"] = f"must be one of {', '.join(ChannelKind.values)}"
        else:
            fields["kind"] = data["kind"]
    elif not partial:
        errors["kind"] = "is required"
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            errors["name"] = "is required, at most 100 characters"
        else:
            fields["name"] = name.strip()
    if "config" in data or not partial:
        fields["config"] = data.get("config", {})
    for name in BOOLEAN_FIELDS:
        if name in data:
            if not isinstance(data[name], bool):
                errors[name] = "must be true or false"
            else:
                fields[name] = data[name]
    if errors:
        raise ChannelError(errors)
    return fields


def _channel(organization: Organization, channel_id: Any) -> Channel:
    try:
        return Channel.objects.select_related("organization").get(
            organization=organization, pk=int(channel_id)
        )
    except (Channel.DoesNotExist, TypeError, ValueError):
        raise Http404("No such channel.") from None


class ChannelList(ChannelsView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        description="The organization's channels (admins); secrets never.",
        operation_id="alerts_channels_list",
    )
    def get(self, request: Request, organization_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        return Response([channel_json(c) for c in Channel.objects.filter(organization=organization)])

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        examples=[WEBHOOK_EXAMPLE, PAGERDUTY_EXAMPLE, EMAIL_EXAMPLE, WEBHOOK_BODY_EXAMPLE],
        description=(
            "Create a channel (admins). kind email: config {addresses: [...]} or {role}; slack: {url};"
            " pagerduty: {routing_key, events_url?}; webhook: {url} — the answer carries the signing"
            " `secret` (whsec_…) this once. Webhook deliveries follow the Standard Webhooks spec."
        ),
    )
    def post(self, request: Request, organization_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        channel = services.channel_create(
            organization, channel_fields(request.data, partial=False), request.user
        )
        body = channel_json(channel)
        if channel.secret:
            body["secret"] = channel.secret
        return Response(body, status=status.HTTP_201_CREATED)


class ChannelDetail(ChannelsView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT, description="One channel with its warning, if any (admins)."
    )
    def get(self, request: Request, organization_id: int, channel_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        return Response(channel_json(_channel(organization, channel_id)))

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        description="Change a channel's name, config (merged), default, send_resolved or enabled; audited."
        " Enabling a channel clears its warning.",
    )
    def patch(self, request: Request, organization_id: int, channel_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        channel = _channel(organization, channel_id)
        fields = channel_fields(request.data, partial=True)
        if "config" in fields and isinstance(fields["config"], dict):
            fields["config"] = {**channel.config, **fields["config"]}
        return Response(channel_json(services.channel_update(channel, fields, request.user)))

    @extend_schema(
        request=None, responses={204: None}, description="Delete a channel and its routes; audited."
    )
    def delete(self, request: Request, organization_id: int, channel_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        services.channel_delete(_channel(organization, channel_id), request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelTest(ChannelsView):
    @extend_schema(
        request=None,
        responses=OpenApiTypes.OBJECT,
        description="Send a clearly marked test message now; the answer is the receiver's.",
    )
    def post(self, request: Request, organization_id: int, channel_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        attempt = services.channel_test(_channel(organization, channel_id), request.user)
        return Response({"delivered": attempt.outcome == "delivered", "attempt": attempt_json(attempt)})


class ChannelRotateSecret(ChannelsView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, organization_id: int, channel_id: int) -> Response:
        """A new signing secret (shown this once); the old one keeps signing for 24 h."""
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        secret = services.channel_rotate_secret(_channel(organization, channel_id), request.user)
        return Response({"secret": secret})


class ChannelDeliveries(ChannelsView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, organization_id: int, channel_id: int) -> Response:
        """The channel's delivery log, newest first, with every attempt."""
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        channel = _channel(organization, channel_id)
        deliveries = Delivery.objects.filter(channel=channel).prefetch_related("attempt_log")[:MAX_DELIVERIES]
        return Response(
            [
                {
                    "id": d.pk,
                    "message_id": d.message_id,
                    "event": d.event,
                    "title": d.payload.get("title", ""),
                    "state": d.state,
                    "created_at": d.created_at.isoformat(),
                    "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
                    "next_attempt_at": d.next_attempt_at.isoformat() if d.state == "pending" else None,
                    "attempts": [attempt_json(a) for a in d.attempt_log.all()],
                }
                for d in deliveries
            ]
        )


def route_json(route: Route) -> dict[str, Any]:
    return {
        "id": route.pk,
        "channel_id": route.channel_id,
        "policy_id": route.policy_id,
        "priorities": route.priorities,
        "labels": route.labels,
        "group_wait_seconds": route.group_wait_seconds,
        "group_interval_seconds": route.group_interval_seconds,
        "repeat_interval_seconds": route.repeat_interval_seconds,
    }


def route_fields(organization: Organization, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ChannelError({"body": "must be a JSON object"})
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {}
    try:
        fields["channel"] = Channel.objects.get(organization=organization, pk=int(data["channel_id"]))
    except (Channel.DoesNotExist, KeyError, TypeError, ValueError):
        errors["channel_id"] = "must be the id of a channel of this organization"
    if data.get("policy_id") is not None:
        try:
            fields["policy"] = Policy.objects.get(
                project__organization=organization, pk=int(data["policy_id"])
            )
        except (Policy.DoesNotExist, TypeError, ValueError):
            errors["policy_id"] = "must be the id of a policy of this organization"
    priorities = data.get("priorities", [])
    if not isinstance(priorities, list) or not set(priorities) <= set(Priority.values):
        errors["priorities"] = f"must be a list of {', '.join(Priority.values)}"
    fields["priorities"] = priorities
    labels = data.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        errors["labels"] = "must be an object of string values"
    fields["labels"] = labels
    for name in ("group_wait_seconds", "group_interval_seconds", "repeat_interval_seconds"):
        value = data.get(name)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 7 * 86400
        ):
            errors[name] = "must be a whole number of seconds from 0 to 604800"
        fields[name] = value
    if errors:
        raise ChannelError(errors)
    return fields


class RouteList(ChannelsView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        description="The organization's routes: which alerts go to which channel.",
    )
    def get(self, request: Request, organization_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        return Response([route_json(r) for r in Route.objects.filter(organization=organization)])

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        examples=[
            OpenApiExample(
                "P1 to PagerDuty", value={"channel_id": 1, "priorities": ["P1"]}, request_only=True
            ),
            OpenApiExample("A policy's channel", value={"channel_id": 2, "policy_id": 7}, request_only=True),
        ],
    )
    def post(self, request: Request, organization_id: int) -> Response:
        """Send alerts matching every given condition (policy, priorities, labels) to a channel."""
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        route = services.route_create(organization, route_fields(organization, request.data), request.user)
        return Response(route_json(route), status=status.HTTP_201_CREATED)


class RouteDetail(ChannelsView):
    @extend_schema(request=None, responses={204: None}, description="Delete a route; audited.")
    def delete(self, request: Request, organization_id: int, route_id: int) -> Response:
        organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
        route = Route.objects.filter(organization=organization, pk=route_id).first()
        if route is None:
            raise Http404("No such route.")
        services.route_delete(route, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
