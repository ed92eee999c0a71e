"""Organization, project, key and member pages. Views translate HTTP to service calls and back;
every object comes through a scoping helper (404 for other tenants, 403 for a missing role)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.alerts.selectors import alert_summaries
from apps.audit import Actor
from apps.dashboards.summary import organization_glance
from apps.projects import services
from apps.projects.forms import (
    ApiKeyForm,
    ConfirmNameForm,
    InvitationForm,
    MembershipChoiceForm,
    NameForm,
    RoleForm,
)
from apps.projects.models import Organization, Role
from apps.projects.scoping import get_member_for, get_organization_for, get_project_for


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    organization = Organization.objects.for_member(request.user).order_by("name").first()  # type: ignore[arg-type]
    if organization is None:
        return redirect("projects:organization-new")
    return redirect("projects:organization", organization_id=organization.pk)


@require_http_methods(["GET", "POST"])
def organization_new(request: HttpRequest) -> HttpResponse:
    form = NameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = services.organization_create(form.cleaned_data["name"], by=Actor.from_request(request))
        messages.success(request, f"Created {organization.name}.")
        return redirect("projects:organization", organization_id=organization.pk)
    return render(request, "projects/organization_new.html", {"form": form})


@require_GET
def organization(request: HttpRequest, organization_id: int) -> HttpResponse:
    org, access = get_organization_for(request, organization_id)
    projects = list(org.projects.order_by("name"))
    # Figures at a glance (rate, error ratio, sparkline): a few queries for all projects together.
    glance = organization_glance([project.pk for project in projects])
    alerts = alert_summaries([project.pk for project in projects])
    for project in projects:
        project.glance = glance[project.pk]  # type: ignore[attr-defined]
        project.alerts = alerts[project.pk]  # type: ignore[attr-defined]
    return render(
        request,
        "projects/organization.html",
        {
            "organization": org,
            "access": access,
            "projects": projects,
            "form": NameForm(),
        },
    )


@require_POST
def project_new(request: HttpRequest, organization_id: int) -> HttpResponse:
    org, access = get_organization_for(request, organization_id, need=Role.ADMIN)
    form = NameForm(request.POST)
    if form.is_valid():
        try:
            project = services.project_create(org, form.cleaned_data["name"], by=Actor.from_request(request))
        except services.ActionRefused as refused:
            form.add_error("name", str(refused))
        else:
            messages.success(
                request, f"Project {project.name} created. Create an ingest key to send telemetry."
            )
            return redirect("projects:project-settings", project_id=project.pk)
    return render(
        request,
        "projects/organization.html",
        {
            "organization": org,
            "access": access,
            "projects": org.projects.order_by("name"),
            "form": form,
        },
        status=400,
    )


def _project_page(request: HttpRequest, project_id: int, status: int = 200, **extra: object) -> HttpResponse:
    project, access = get_project_for(request, project_id)
    context = {
        "project": project,
        "organization": project.organization,
        "access": access,
        "tab": "settings",
        "keys": project.api_keys.select_related("created_by").order_by("revoked_at", "-created_at"),
        "key_form": ApiKeyForm(),
        "rename_form": NameForm(initial={"name": project.name}),
        "delete_form": ConfirmNameForm(expected=project.name),
        **extra,
    }
    return render(request, "projects/project.html", context, status=status)


@require_GET
def project_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    return _project_page(request, project_id)


@require_POST
def project_rename(request: HttpRequest, project_id: int) -> HttpResponse:
    project, _ = get_project_for(request, project_id, need=Role.ADMIN)
    form = NameForm(request.POST)
    if form.is_valid():
        try:
            services.project_rename(project, form.cleaned_data["name"], by=Actor.from_request(request))
        except services.ActionRefused as refused:
            form.add_error("name", str(refused))
        else:
            messages.success(request, "Project renamed.")
            return redirect("projects:project-settings", project_id=project.pk)
    return _project_page(request, project_id, status=400, rename_form=form)


@require_POST
def project_delete(request: HttpRequest, project_id: int) -> HttpResponse:
    project, _ = get_project_for(request, project_id, need=Role.ADMIN)
    form = ConfirmNameForm(request.POST, expected=project.name)
    if not form.is_valid():
        return _project_page(request, project_id, status=400, delete_form=form)
    organization_id = project.organization_id
    services.project_delete(project, by=Actor.from_request(request))
    messages.success(request, f"Project {project.name} deleted, with its keys and telemetry.")
    return redirect("projects:organization", organization_id=organization_id)


@require_POST
def key_new(request: HttpRequest, project_id: int) -> HttpResponse:
    project, _ = get_project_for(request, project_id, need=Role.ADMIN)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _project_page(request, project_id, status=400, key_form=form)
    key, secret = services.api_key_create(
        project, form.cleaned_data["scope"], form.cleaned_data["name"], by=Actor.from_request(request)
    )
    # Rendered, never redirected: the secret must not travel through a URL, session or flash message.
    response = _project_page(request, project_id, new_key=key, new_secret=secret)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def key_revoke(request: HttpRequest, project_id: int, key_id: int) -> HttpResponse:
    project, _ = get_project_for(request, project_id, need=Role.ADMIN)
    key = project.api_keys.filter(pk=key_id).first()
    if key is None:
        raise Http404("No such key.")
    try:
        services.api_key_revoke(key, by=Actor.from_request(request))
    except services.ActionRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"Key {key.masked} revoked. Requests using it are refused from now on.")
    return redirect("projects:project-settings", project_id=project.pk)


def _members_page(
    request: HttpRequest, organization_id: int, status: int = 200, **extra: object
) -> HttpResponse:
    org, access = get_organization_for(request, organization_id)
    membership = access.membership
    assert membership is not None
    assignable = [role for role in Role.values if membership.can_assign(role)]
    context = {
        "organization": org,
        "access": access,
        "memberships": org.memberships.select_related("user").order_by("user__email"),
        "invitations": org.invitations.filter(accepted_at__isnull=True).select_related("invited_by"),
        "invite_form": InvitationForm(assignable=assignable),
        "assignable_roles": [(value, label) for value, label in Role.choices if value in assignable],
        **extra,
    }
    return render(request, "projects/members.html", context, status=status)


@require_GET
def members(request: HttpRequest, organization_id: int) -> HttpResponse:
    return _members_page(request, organization_id)


@require_POST
def invitation_new(request: HttpRequest, organization_id: int) -> HttpResponse:
    org, access = get_organization_for(request, organization_id, need=Role.ADMIN)
    assert access.membership is not None
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation, token = services.invitation_create(
                org,
                form.cleaned_data["email"],
                form.cleaned_data["role"],
                access.membership,
                by=Actor.from_request(request),
            )
        except services.ActionRefused as refused:
            form.add_error("email", str(refused))
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return _members_page(
                request,
                organization_id,
                invitation_link=services.invitation_url(token, by=Actor.from_request(request)),
            )
    return _members_page(request, organization_id, status=400, invite_form=form)


@require_POST
def invitation_revoke(request: HttpRequest, organization_id: int, invitation_id: int) -> HttpResponse:
    org, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
    invitation = org.invitations.filter(pk=invitation_id, accepted_at__isnull=True).first()
    if invitation is None:
        raise Http404("No such invitation.")
    services.invitation_revoke(invitation, by=Actor.from_request(request))
    messages.success(request, f"Invitation for {invitation.email} revoked.")
    return redirect("projects:members", organization_id=org.pk)


@require_POST
def member_role(request: HttpRequest, organization_id: int, membership_id: int) -> HttpResponse:
    org, access = get_organization_for(request, organization_id, need=Role.ADMIN)
    assert access.membership is not None
    target = get_member_for(org, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles: owner, admin, member, viewer.")
        return _members_page(request, organization_id, status=400)
    try:
        services.membership_set_role(
            access.membership, target, form.cleaned_data["role"], by=Actor.from_request(request)
        )
    except services.ActionRefused as refused:
        messages.error(request, str(refused))
        return _members_page(request, organization_id, status=409)
    messages.success(request, f"{target.user.email} is now {target.role}.")
    return redirect("projects:members", organization_id=org.pk)


@require_POST
def member_remove(request: HttpRequest, organization_id: int, membership_id: int) -> HttpResponse:
    org, access = get_organization_for(request, organization_id)
    assert access.membership is not None
    target = get_member_for(org, membership_id)
    if target.pk != access.membership.pk and not access.membership.can(Role.ADMIN):
        raise PermissionDenied("Only admins and owners can remove members.")
    try:
        services.membership_remove(access.membership, target, by=Actor.from_request(request))
    except services.ActionRefused as refused:
        messages.error(request, str(refused))
        return _members_page(request, organization_id, status=409)
    if target.pk == access.membership.pk:
        messages.success(request, f"You left {org.name}.")
        return redirect("projects:home")
    messages.success(request, f"{target.user.email} was removed from {org.name}.")
    return redirect("projects:members", organization_id=org.pk)


def _settings_page(
    request: HttpRequest, organization_id: int, status: int = 200, **extra: object
) -> HttpResponse:
    org, access = get_organization_for(request, organization_id, need=Role.ADMIN)
    others = org.memberships.exclude(pk=access.membership.pk).select_related("user")  # type: ignore[union-attr]
    context = {
        "organization": org,
        "access": access,
        "rename_form": NameForm(initial={"name": org.name}),
        "delete_form": ConfirmNameForm(expected=org.name),
        "transfer_form": MembershipChoiceForm(choices=[(m.pk, m.user.email) for m in others]),
        **extra,
    }
    return render(request, "projects/settings.html", context, status=status)


@require_GET
def organization_settings(request: HttpRequest, organization_id: int) -> HttpResponse:
    return _settings_page(request, organization_id)


@require_POST
def organization_rename(request: HttpRequest, organization_id: int) -> HttpResponse:
    org, _ = get_organization_for(request, organization_id, need=Role.ADMIN)
    form = NameForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, organization_id, status=400, rename_form=form)
    services.organization_update(org, form.cleaned_data["name"], by=Actor.from_request(request))
    messages.success(request, "Organization renamed.")
    return redirect("projects:organization-settings", organization_id=org.pk)


@require_POST
def organization_delete(request: HttpRequest, organization_id: int) -> HttpResponse:
    org, _ = get_organization_for(request, organization_id, need=Role.OWNER)
    form = ConfirmNameForm(request.POST, expected=org.name)
    if not form.is_valid():
        return _settings_page(request, organization_id, status=400, delete_form=form)
    services.organization_delete(org, by=Actor.from_request(request))
    messages.success(request, f"{org.name} and everything in it was deleted.")
    return redirect("projects:home")


@require_POST
def organization_transfer(request: HttpRequest, organization_id: int) -> HttpResponse:
    org, access = get_organization_for(request, organization_id, need=Role.OWNER)
    assert access.membership is not None
    others = org.memberships.exclude(pk=access.membership.pk).select_related("user")
    form = MembershipChoiceForm(request.POST, choices=[(m.pk, m.user.email) for m in others])
    if not form.is_valid():
        return _settings_page(request, organization_id, status=400, transfer_form=form)
    new_owner = get_member_for(org, form.cleaned_data["membership"])
    services.ownership_transfer(access.membership, new_owner, by=Actor.from_request(request))
    messages.success(request, f"{new_owner.user.email} now owns {org.name}; you are an admin.")
    return redirect("projects:organization", organization_id=org.pk)
