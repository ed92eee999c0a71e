"""Silences and maintenance windows API, per project: `/api/v1/projects/{id}/alerts/silences`
`[/{silence_id}]` and `/api/v1/projects/{id}/alerts/maintenance[/{window_id}]`.

Access (DESIGN.md §5) through get_project_for: viewers and read keys see them; members create
and expire silences; admins manage maintenance windows. Each write is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime, parse_time
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps import audit
from apps.alerts.durations import parse_duration
from apps.alerts.models import Policy
from apps.notifications.api import ChannelsView
from apps.notifications.channels import ChannelError
from apps.notifications.models import MaintenanceWindow, Silence
from apps.notifications.selectors import quiet_reasons
from apps.notifications.silences import (
    MatcherError,
    check_matchers,
    check_window,
    silence_create,
    silence_expire,
    window_active,
)
from apps.projects.models import Project, Role
from apps.projects.scoping import get_project_for

MAX_SILENCE = timedelta(days=90)


def silence_json(silence: Silence, now: datetime) -> dict[str, Any]:
    return {
        "id": silence.pk,
        "policy_id": silence.policy_id,
        "matchers": silence.matchers,
        "starts_at": silence.starts_at.isoformat(),
        "ends_at": silence.ends_at.isoformat(),
        "comment": silence.comment,
        "created_by": silence.created_by.email if silence.created_by else None,
        "is_active": silence.starts_at <= now < silence.ends_at,
    }


def _when(data: dict[str, Any], name: str, default: datetime, errors: dict[str, str]) -> datetime:
    value = data.get(name)
    if value is None:
        return default
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        errors[name] = "must be an ISO 8601 time, e.g. 2026-12-06T22:00:00Z"
        return default
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def silence_fields(project: Project, data: Any, now: datetime) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ChannelError({"body": "must be a JSON object"})
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {"comment": str(data.get("comment", ""))[:1000]}
    try:
        fields["matchers"] = check_matchers(data.get("matchers", []))
    except MatcherError as exc:
        errors["matchers"] = str(exc)
    if data.get("policy_id") is not None:
        try:
            fields["policy"] = Policy.objects.get(project=project, pk=int(data["policy_id"]))
        except (Policy.DoesNotExist, TypeError, ValueError):
            errors["policy_id"] = "must be the id of a policy of this project"
    if not fields.get("matchers") and "policy" not in fields and "matchers" not in errors:
        errors["matchers"] = "give at least one matcher or a policy_id (a silence of everything is a mistake)"
    starts_at = _when(data, "starts_at", now, errors)
    if "duration" in data:
        try:
            ends_at = starts_at + timedelta(seconds=parse_duration(data["duration"]))
        except ValueError as exc:
            errors["duration"] = str(exc)
            ends_at = starts_at
    else:
        ends_at = _when(data, "ends_at", starts_at, errors)
        if "ends_at" not in data:
            errors["ends_at"] = "give ends_at or a duration (e.g. 1h)"
    if ends_at <= starts_at and not ({"ends_at", "duration"} & set(errors)):
        errors["ends_at"] = "must be after starts_at"
    if ends_at - starts_at > MAX_SILENCE:
        errors["ends_at"] = "a silence lasts at most 90 days"
    if errors:
        raise ChannelError(errors)
    return {**fields, "starts_at": starts_at, "ends_at": ends_at}


def _key_of(access: Any) -> Any:
    if access.key is None:
        return None
    from apps.projects.models import ApiKey

    return ApiKey.objects.filter(pk=access.key.id).first()


class QuietedList(ChannelsView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        operation_id="alerts_quieted",
        examples=[
            OpenApiExample(
                "One incident silenced",
                value={"incidents": {"42": "silenced"}, "instances": {"7": "silenced", "9": "inhibited"}},
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, project_id: int) -> Response:
        """What is held back from notification right now, and why (silenced, maintenance,
        inhibited): open incidents and firing or pending instances, by id. They still fire; the
        Alerts tab and the incident page mark them."""
        project, _ = get_project_for(request, project_id)
        reasons = quiet_reasons(project, timezone.now())
        return Response(
            {
                "incidents": {str(pk): reason for pk, reason in reasons.incidents.items()},
                "instances": {str(pk): reason for pk, reason in reasons.instances.items()},
            }
        )


class SilenceList(ChannelsView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="alerts_silences_list")
    def get(self, request: Request, project_id: int) -> Response:
        """Silences of the project that are active or have not started yet."""
        project, _ = get_project_for(request, project_id)
        now = timezone.now()
        return Response(
            [
                silence_json(s, now)
                for s in Silence.objects.filter(project=project, ends_at__gt=now).select_related("created_by")
            ]
        )

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        examples=[
            OpenApiExample(
                "Silence the db hosts for 2 h",
                value={
                    "matchers": [{"name": "host", "op": "=~", "value": "db-.*"}],
                    "duration": "2h",
                    "comment": "failover drill",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        """Create a silence (members). Matchers: name, op (=, !=, =~, !~; regexes in RE2), value."""
        project, access = get_project_for(request, project_id, need=Role.MEMBER)
        now = timezone.now()
        silence = silence_create(
            project, silence_fields(project, request.data, now), request.user, _key_of(access)
        )
        return Response(silence_json(silence, now), status=status.HTTP_201_CREATED)


class SilenceDetail(ChannelsView):
    @extend_schema(responses=OpenApiTypes.OBJECT, description="One silence of the project.")
    def get(self, request: Request, project_id: int, silence_id: int) -> Response:
        project, _ = get_project_for(request, project_id)
        return Response(silence_json(_silence(project, silence_id), timezone.now()))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, project_id: int, silence_id: int) -> Response:
        """Expire the silence now (kept for the history)."""
        project, access = get_project_for(request, project_id, need=Role.MEMBER)
        silence_expire(_silence(project, silence_id), request.user, timezone.now(), _key_of(access))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _silence(project: Project, silence_id: Any) -> Silence:
    try:
        return Silence.objects.select_related("project__organization", "created_by").get(
            project=project, pk=int(silence_id)
        )
    except (Silence.DoesNotExist, TypeError, ValueError):
        raise Http404("No such silence.") from None


def window_json(window: MaintenanceWindow, now: datetime) -> dict[str, Any]:
    return {
        "id": window.pk,
        "name": window.name,
        "weekdays": window.weekdays,
        "start_time": window.start_time.strftime("%H:%M"),
        "end_time": window.end_time.strftime("%H:%M"),
        "tz": window.tz,
        "matchers": window.matchers,
        "is_active": window_active(window, now),
    }


def window_fields(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ChannelError({"body": "must be a JSON object"})
    start: time | None = parse_time(data["start_time"]) if isinstance(data.get("start_time"), str) else None
    end: time | None = parse_time(data["end_time"]) if isinstance(data.get("end_time"), str) else None
    errors = check_window(data.get("weekdays"), start, end, data.get("tz", "UTC"))
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        errors["name"] = "is required, at most 100 characters"
    try:
        matchers = check_matchers(data.get("matchers", []))
    except MatcherError as exc:
        errors["matchers"] = str(exc)
    if errors:
        raise ChannelError(errors)
    return {
        "name": str(name).strip(),
        "weekdays": sorted(set(data["weekdays"])),
        "start_time": start,
        "end_time": end,
        "tz": data.get("tz", "UTC"),
        "matchers": matchers,
    }


class MaintenanceList(ChannelsView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        description="The project's maintenance windows, each saying if active now.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = get_project_for(request, project_id)
        now = timezone.now()
        return Response([window_json(w, now) for w in MaintenanceWindow.objects.filter(project=project)])

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        examples=[
            OpenApiExample(
                "Saturday night deploys, Berlin time",
                value={
                    "name": "deploys",
                    "weekdays": [5],
                    "start_time": "23:00",
                    "end_time": "02:00",
                    "tz": "Europe/Berlin",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        """A weekly window (admins): weekdays 0 = Monday; an end before the start crosses midnight."""
        project, access = get_project_for(request, project_id, need=Role.ADMIN)
        fields = window_fields(request.data)
        with transaction.atomic():
            window = MaintenanceWindow.objects.create(
                project=project, created_by=request.user if request.user.is_authenticated else None, **fields
            )
            audit.record(
                "notifications.maintenance.create",
                actor=request.user,
                key=_key_of(access),
                organization=project.organization,
                target=window,
                after=window_json(window, timezone.now()),
            )
        return Response(window_json(window, timezone.now()), status=status.HTTP_201_CREATED)


class MaintenanceDetail(ChannelsView):
    @extend_schema(
        request=None, responses={204: None}, description="Delete a maintenance window (admins); audited."
    )
    def delete(self, request: Request, project_id: int, window_id: int) -> Response:
        project, access = get_project_for(request, project_id, need=Role.ADMIN)
        window = MaintenanceWindow.objects.filter(project=project, pk=window_id).first()
        if window is None:
            raise Http404("No such maintenance window.")
        with transaction.atomic():
            audit.record(
                "notifications.maintenance.delete",
                actor=request.user,
                key=_key_of(access),
                organization=project.organization,
                target=window,
                before=window_json(window, timezone.now()),
            )
            window.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
