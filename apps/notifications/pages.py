"""The organization's Channels page (org settings → Channels): list, add, send a test, delete.
Admins only, as in the API; writes go through the same services (validated, audited)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.notifications import channels as services
from apps.notifications.channels import ChannelError
from apps.notifications.forms import ChannelForm
from apps.notifications.models import Channel, Delivery
from apps.projects.models import Organization, Role
from apps.projects.scoping import Access, get_organization_for

RECENT_DELIVERIES = 20


def _page(
    request: HttpRequest, organization: Organization, access: Access, status: int = 200, **extra: object
) -> HttpResponse:
    channels = list(Channel.objects.filter(organization=organization))
    context = {
        "organization": organization,
        "access": access,
        "channels": channels,
        "form": ChannelForm(),
        "deliveries": Delivery.objects.filter(organization=organization)
        .select_related("channel")
        .prefetch_related("attempt_log")[:RECENT_DELIVERIES],
        **extra,
    }
    return render(request, "notifications/channels.html", context, status=status)


def _channel(organization: Organization, channel_id: int) -> Channel:
    channel = (
        Channel.objects.select_related("organization")
        .filter(organization=organization, pk=channel_id)
        .first()
    )
    if channel is None:
        raise Http404("No such channel.")
    return channel


@require_GET
def channel_list(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization, access = get_organization_for(request, organization_id, need=Role.ADMIN)
    return _page(request, organization, access)


@require_POST
def channel_new(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization, access = get_organization_for(request, organization_id, need=Role.ADMIN)
    form = ChannelForm(request.POST)
    if not form.is_valid():
        return _page(request, organization, access, status=400, form=form)
    fields = {
        "name": form.cleaned_data["name"].strip(),
        "kind": form.cleaned_data["kind"],
        "config": form.config(),
        "is_default": form.cleaned_data["is_default"],
    }
    try:
        channel = services.channel_create(organization, fields, request.user)
    except ChannelError as exc:
        for field, message in exc.errors.items():
            form.add_error("name" if field == "name" else "target", f"{field}: {message}")
        return _page(request, organization, access, status=400, form=form)
    # Rendered, not redirected: the secret must not wait in a session or cookie for the next page.
    return _page(request, organization, access, created=channel, secret=channel.secret)


@require_POST
def channel_test(request: HttpRequest, organization_id: int, channel_id: int) -> HttpResponse:
    organization, access = get_organization_for(request, organization_id, need=Role.ADMIN)
    attempt = services.channel_test(_channel(organization, channel_id), request.user)
    return _page(request, organization, access, tested=attempt)


@require_POST
def channel_delete(request: HttpRequest, organization_id: int, channel_id: int) -> HttpResponse:
    organization, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
    channel = _channel(organization, channel_id)
    services.channel_delete(channel, request.user)
    messages.success(request, f"Channel {channel.name} deleted.")
    return redirect("notifications:channels", organization_id=organization.pk)
