"""The project's Alerts tab, and heartbeat pings: `GET|POST|HEAD /ping/<uuid>[/start|/fail]`.

The Alerts tab is a shell filled by static/js/alerts.js from the alerts API (policies with their
state, incidents, ack / resolve) and kept current by the live socket's `alerts` events; the
incident page (static/js/incident.js) likewise, around what the server renders once.

Pings:
Public on purpose: the uuid in the URL is the secret (as Healthchecks' ping URLs), so these
views are marked login_not_required, and csrf_exempt because cron jobs and scripts post without
a session or token. An unknown uuid is 404, whatever the method.
"""

from __future__ import annotations

import json
import uuid

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from apps.alerts import selectors
from apps.alerts.durations import format_duration
from apps.alerts.models import PingKind
from apps.alerts.services import heartbeat_ping
from apps.projects.models import Role
from apps.projects.scoping import get_project_for


@require_GET
def alerts_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project, access = get_project_for(request, project_id)
    context = {
        "project": project,
        "organization": project.organization,
        "access": access,
        "tab": "alerts",
        "can_respond": access.can(Role.MEMBER),
    }
    return render(request, "alerts/alerts.html", context)


@require_GET
def incident_page(request: HttpRequest, project_id: int, incident_id: int) -> HttpResponse:
    """One incident: what it is and why (labels, runbook, the records that matched), its value
    against the threshold, its timeline, and ack / resolve / silence for members. The state,
    timeline and chart are filled by static/js/incident.js and kept live by the project socket."""
    project, access = get_project_for(request, project_id)
    incident = selectors.incident_for_project(project, incident_id)
    policy = incident.policy
    context = {
        "project": project,
        "organization": project.organization,
        "access": access,
        "tab": "alerts",
        "incident": incident,
        "policy": policy,
        "window": format_duration(policy.window_seconds),
        "evidence": selectors.incident_evidence(incident),
        # For the silence buttons, before (and whatever) the page's first API call answers.
        "labels_json": json.dumps(incident.labels, sort_keys=True),
        "can_respond": access.can(Role.MEMBER),
    }
    return render(request, "alerts/incident.html", context)


def _ping(ping_uuid: uuid.UUID, kind: str) -> HttpResponse:
    if not heartbeat_ping(ping_uuid, kind):
        return HttpResponse("not found\n", status=404, content_type="text/plain")
    return HttpResponse("OK\n", content_type="text/plain")


@login_not_required
@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def ping(request: HttpRequest, ping_uuid: uuid.UUID) -> HttpResponse:
    return _ping(ping_uuid, PingKind.SUCCESS)


@login_not_required
@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def ping_start(request: HttpRequest, ping_uuid: uuid.UUID) -> HttpResponse:
    return _ping(ping_uuid, PingKind.START)


@login_not_required
@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def ping_fail(request: HttpRequest, ping_uuid: uuid.UUID) -> HttpResponse:
    return _ping(ping_uuid, PingKind.FAIL)
