"""Staff admin (/admin/) for tenancy models, plus the behaviour it shares with the tenant admin.

Design note. Both admin sites write through `apps.projects.services`, so every rule (last owner,
admins vs owners) and every audit event stays in one place. Django's admin would otherwise
write rows itself: `save_model`, `delete_model` and `delete_queryset` (the "delete selected"
action, which by default deletes in bulk) are all overridden here. The `*AdminBase` classes
hold that shared write behaviour and nothing about display, so a column or filter added for
staff never leaks into the tenant admin (apps/projects/tenant_admin.py), which must scope
everything it shows.

A service that refuses (ActionRefused, PermissionDenied) becomes an admin error message and
a redirect, never a 500; the admin's own transaction is rolled back, so nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from apps.accounts.models import User
from apps.api.errors import Conflict
from apps.audit import Actor
from apps.projects import services
from apps.projects.models import ApiKey, ApiKeyQuerySet, Invitation, Membership, Organization, Project, Role


class ServiceRefused(Exception):
    """A service said no; the admin shows `str(self)` as an error message."""


@contextmanager
def refused_by_service() -> Iterator[None]:
    try:
        yield
    except (Conflict, PermissionDenied) as refusal:  # ActionRefused, billing's LimitReached
        raise ServiceRefused(str(refusal) or "This action is not allowed.") from refusal


def adopt(obj: models.Model, saved: models.Model) -> None:
    """Give the admin's unsaved instance the identity of the row a service created.

    The admin keeps using the instance it built from the form (for its log entry and the
    redirect after "save"), so it has to become that row.
    """
    obj.__dict__.update(saved.__dict__)


class ServiceBackedAdmin(admin.ModelAdmin):
    """Turns service refusals into messages and makes bulk deletes go through `delete_model`."""

    # Models whose rows may go with a deleted object although this site lets nobody delete
    # them on their own (API keys are revoked, not deleted, but disappear with their project).
    cascades_without_permission: ClassVar[tuple[type[models.Model], ...]] = ()

    def acting_membership(self, request: HttpRequest, organization: Organization) -> Membership:
        """The membership services check rules against. Staff operators act with an owner's
        powers without being members: an unsaved membership carries that to the services (which
        record `request.user` as the actor) without granting anything in the database."""
        return Membership(organization=organization, user=cast(User, request.user), role=Role.OWNER)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceRefused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            opts = self.opts
            return HttpResponseRedirect(
                reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_change",
                    args=[object_id],
                    current_app=self.admin_site.name,
                )
            )

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        # All or nothing: a refusal in the middle of a bulk action undoes the ones before it.
        try:
            with transaction.atomic():
                return super().response_action(request, queryset, *args, **kwargs)
        except ServiceRefused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # One by one through delete_model, so that each deletion is checked and audited.
        for obj in queryset:
            self.delete_model(request, obj)

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        allowed = {str(model._meta.verbose_name) for model in self.cascades_without_permission}
        return deleted, counts, {name for name in perms_needed if str(name) not in allowed}, protected


def _original(obj: models.Model) -> Any:
    """The row as stored: by `save_model` time the form has already written into `obj`."""
    return type(obj)._default_manager.get(pk=obj.pk)


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ("organization", "name")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        organization = cleaned.get("organization")
        organization_id = organization.pk if organization else self.instance.organization_id
        name = (cleaned.get("name") or "").strip()
        taken = Project.objects.filter(organization_id=organization_id, name__iexact=name)
        if name and taken.exclude(pk=self.instance.pk).exists():
            self.add_error("name", f"A project named “{name}” already exists in this organization.")
        return cleaned

    def validate_unique(self) -> None:
        # clean() gives the readable message; the service still catches a concurrent duplicate.
        pass


class ProjectAdminBase(ServiceBackedAdmin):
    form = ProjectForm
    cascades_without_permission = (ApiKey,)

    def get_readonly_fields(self, request: HttpRequest, obj: Project | None = None) -> tuple[str, ...]:
        # Moving a project to another organization is not an operation we offer.
        return ("created_at",) if obj is None else ("organization", "created_at")

    def save_model(self, request: HttpRequest, obj: Project, form: forms.ModelForm, change: bool) -> None:
        with refused_by_service():
            if not change:
                adopt(
                    obj, services.project_create(obj.organization, obj.name, by=Actor.from_request(request))
                )
            elif "name" in form.changed_data:
                project = _original(obj)
                services.project_rename(project, obj.name, by=Actor.from_request(request))
                adopt(obj, project)

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        with refused_by_service():
            services.project_delete(obj, by=Actor.from_request(request))


@admin.action(description="Revoke selected keys", permissions=["revoke"])
def revoke_keys(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]) -> None:
    active = list(cast(ApiKeyQuerySet, queryset).active().select_related("project__organization"))
    with refused_by_service():
        for key in active:
            services.api_key_revoke(key, by=Actor.from_request(request))
    skipped = queryset.count() - len(active)
    note = f" ({skipped} already revoked)" if skipped else ""
    modeladmin.message_user(request, f"Revoked {len(active)} key(s){note}.", messages.SUCCESS)


class ApiKeyAdminBase(ServiceBackedAdmin):
    """Keys are immutable once issued: they can be viewed and revoked, never edited or deleted."""

    actions = [revoke_keys]
    list_display = (
        "masked_key",
        "name",
        "project",
        "scope",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    view_fields = (
        "masked_key",
        "name",
        "project",
        "scope",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    # The secret hash is never displayed: it is not secret-equivalent, but nobody needs it.
    exclude = ("secret_hash",)

    @admin.display(description="key", ordering="prefix")
    def masked_key(self, obj: ApiKey) -> str:
        return obj.masked

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return ("project", "scope", "name") if obj is None else self.view_fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return () if obj is None else self.view_fields

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False


class MembershipAdminBase(ServiceBackedAdmin):
    """Only the role can change; memberships are created by accepting an invitation."""

    fields = ("user", "organization", "role", "created_at")
    readonly_fields = ("user", "organization", "created_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Membership, form: forms.ModelForm, change: bool) -> None:
        if "role" not in form.changed_data:
            return
        membership = _original(obj)
        actor = self.acting_membership(request, membership.organization)
        with refused_by_service():
            services.membership_set_role(actor, membership, obj.role, by=Actor.from_request(request))
        adopt(obj, membership)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        actor = self.acting_membership(request, obj.organization)
        with refused_by_service():
            services.membership_remove(actor, obj, by=Actor.from_request(request))


class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ("organization", "email", "role")

    def validate_unique(self) -> None:
        # Re-inviting an address replaces its open invitation (services.invitation_create),
        # so the "one open invitation" constraint must not reject the form first.
        pass


class InvitationAdminBase(ServiceBackedAdmin):
    """Invitations are created and revoked, never edited; the token hash is never shown."""

    form = InvitationForm
    view_fields = (
        "email",
        "organization",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
    )

    def get_fields(self, request: HttpRequest, obj: Invitation | None = None) -> tuple[str, ...]:
        return ("organization", "email", "role") if obj is None else self.view_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Invitation | None = None) -> tuple[str, ...]:
        return () if obj is None else self.view_fields

    def has_change_permission(self, request: HttpRequest, obj: Invitation | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Invitation | None = None) -> bool:
        # An accepted invitation is the record of how someone joined; revoking it means nothing.
        return super().has_delete_permission(request, obj) and (obj is None or obj.accepted_at is None)

    def save_model(self, request: HttpRequest, obj: Invitation, form: forms.ModelForm, change: bool) -> None:
        actor = self.acting_membership(request, obj.organization)
        with refused_by_service():
            invitation, _token = services.invitation_create(
                obj.organization, obj.email, obj.role, actor, by=Actor.from_request(request)
            )
        adopt(obj, invitation)
        # The link itself is not repeated here: a message waits in a cookie or the session until
        # the next page, and the token must not be stored anywhere but in the email.
        self.message_user(request, f"Invitation emailed to {obj.email}.", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Invitation) -> None:
        with refused_by_service():
            services.invitation_revoke(obj, by=Actor.from_request(request))


# ---- Staff site -------------------------------------------------------------------------------


class MembershipInline(admin.TabularInline):
    """Read-only here: role changes go through the Membership page, which uses the services."""

    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(ServiceBackedAdmin):
    """No add: an organization is created by its first owner (sign-up or `manage.py bootstrap`)."""

    list_display = ("name", "member_count", "created_at")
    search_fields = ("name",)
    fields = ("name", "created_at")
    readonly_fields = ("created_at",)
    inlines = [MembershipInline]
    cascades_without_permission = (ApiKey,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Organization) -> int:
        return obj.member_count  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Organization, form: forms.ModelForm, change: bool
    ) -> None:
        if "name" in form.changed_data:
            services.organization_update(_original(obj), obj.name, by=Actor.from_request(request))

    def delete_model(self, request: HttpRequest, obj: Organization) -> None:
        services.organization_delete(obj, by=Actor.from_request(request))


@admin.register(Membership)
class MembershipAdmin(MembershipAdminBase):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "user__name", "organization__name")
    list_select_related = ("user", "organization")


@admin.register(Invitation)
class InvitationAdmin(InvitationAdminBase):
    list_display = ("email", "organization", "role", "invited_by", "created_at", "expires_at", "accepted_at")
    list_filter = ("role", ("accepted_at", admin.EmptyFieldListFilter))
    search_fields = ("email", "organization__name")
    list_select_related = ("organization", "invited_by")


@admin.register(Project)
class ProjectAdmin(ProjectAdminBase):
    list_display = ("name", "organization", "created_at")
    search_fields = ("name", "organization__name")
    list_select_related = ("organization",)
    fields = ("organization", "name", "created_at")


@admin.register(ApiKey)
class ApiKeyAdmin(ApiKeyAdminBase):
    """No add here: staff do not mint customer credentials. Organization admins create keys in
    /manage/ or the app, where the secret is shown once to the person who will use it."""

    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix", "name", "project__name", "project__organization__name")
    list_select_related = ("project", "created_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("projects.change_apikey")
