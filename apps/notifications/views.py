"""One-click links of notifications: `/notify/action/<token>` (acknowledge, or silence for 1 h).

Public on purpose (the signed token is the authorisation, see links.py). GET only shows what the
link would do and a button: mail scanners and link previews fetch URLs, and must not acknowledge
anything. The POST of that button acts, once, and leads to the incident's page.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from apps.alerts.incidents import IncidentClosed, incident_acknowledge
from apps.alerts.models import Incident
from apps.notifications import links, silences
from apps.notifications.messages import incident_path

LABELS = {links.ACK: "Acknowledge", links.SILENCE: "Silence for 1 hour"}


@login_not_required
@require_http_methods(["GET", "POST"])
def action(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = links.read_token(token)
    except links.BadLink as exc:
        return render(request, "notifications/action.html", {"error": str(exc)}, status=410)
    incident = Incident.objects.select_related("project", "policy").filter(pk=link.incident_id).first()
    if incident is None:
        return render(
            request, "notifications/action.html", {"error": "This incident no longer exists."}, status=410
        )
    context = {
        "incident": incident,
        "action": LABELS[link.action],
        "token": token,
        "incident_url": incident_path(incident.project_id, incident.pk),
    }
    if request.method == "GET":
        return render(request, "notifications/action.html", context)
    actor = request.user if request.user.is_authenticated else None
    try:
        with transaction.atomic():
            links.use_token(link)
            if link.action == links.ACK:
                incident_acknowledge(incident, actor)
            else:
                silences.silence_incident(incident, 1, actor, timezone.now())
    except links.BadLink as exc:
        return render(request, "notifications/action.html", {"error": str(exc)}, status=410)
    except IncidentClosed as exc:
        return render(request, "notifications/action.html", {"error": str(exc)}, status=409)
    if actor is not None:
        # A signed-in reader lands on the incident itself (its page answers 404 if they may not
        # see the project); without a session, the page says it is done and links there.
        return redirect(incident_path(incident.project_id, incident.pk) + f"?done={link.action}")
    return render(request, "notifications/action.html", {**context, "done": True})
