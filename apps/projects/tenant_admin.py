"""Tenant-scoped admin site at /manage/: organization admins and owners manage their own organizations.

Design note. These users are not staff and hold no Django permissions; what they may do comes
from their memberships (DESIGN.md §5). `TenantScopedAdmin` is the one place that turns
memberships into admin behaviour:

- `organization_ids(request)` — the organizations where the user has `required_role` (admin by
  default). Everything below is derived from it.
- `organization_lookup` — how a model reaches its organization, as a queryset lookup
  (`"organization"`, `"project__organization"`, or `"organization_id"` for a plain id column).
  Every queryset is filtered by it, so other tenants' rows are invisible: their URLs give 404,
  the same answer as for rows that do not exist.
- `FOREIGN_KEY_SCOPES` — how each model offered in a foreign-key choice reaches its
  organization. A form that shows a foreign key to a model missing there fails loudly instead
  of offering every row in the database.
- Permissions are role-based: a user with the required role in the object's organization may
  view, add, change and delete; services still enforce the finer rules (admins vs owners,
  last owner) and their refusals become error messages (see apps/projects/admin.py).

To put a new model here (alert policies, say): subclass `TenantScopedAdmin`, set
`organization_lookup = "project__organization"`, write through services in `save_model` and
`delete_model`, use `admin.RelatedOnlyFieldListFilter` for foreign-key filters (the plain one
lists every row of the related table), and add the model to `FOREIGN_KEY_SCOPES` if other forms
offer it as a choice.
"""

from __future__ import annotations

from functools import update_wrapper
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils.html import format_html

from apps.accounts.forms import ThrottledAuthenticationForm
from apps.audit import Actor
from apps.audit.models import AuditEvent
from apps.ops.admin_base import HistoryAdmin
from apps.projects import services
from apps.projects.admin import (
    ApiKeyAdminBase,
    InvitationAdminBase,
    MembershipAdminBase,
    ProjectAdminBase,
    ServiceBackedAdmin,
    adopt,
    refused_by_service,
)
from apps.projects.models import ApiKey, Invitation, Membership, Organization, Project, Role

# Lookup from each model that forms may offer as a foreign-key choice to its organization.
FOREIGN_KEY_SCOPES: dict[type[models.Model], str] = {
    Organization: "pk",
    Project: "organization",
}


def memberships_of(request: HttpRequest) -> dict[int, Membership]:
    """The signed-in user's memberships by organization id, loaded once per request."""
    cached: dict[int, Membership] | None = getattr(request, "_tenant_admin_memberships", None)
    if cached is None:
        user = request.user
        cached = {}
        if user.is_authenticated and user.is_active:
            cached = {
                membership.organization_id: membership
                for membership in Membership.objects.filter(user=user).select_related("organization", "user")
            }
        request._tenant_admin_memberships = cached  # type: ignore[attr-defined]
    return cached


def administers_any_organization(request: HttpRequest) -> bool:
    return any(membership.can(Role.ADMIN) for membership in memberships_of(request).values())


class TenantAuthenticationForm(ThrottledAuthenticationForm):
    """Sign-in for /manage/: normal accounts (and the normal throttle), as long as they administer
    an organization."""

    required_css_class = "required"

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not Membership.objects.filter(user=user, role__in=[Role.OWNER, Role.ADMIN]).exists():
            raise ValidationError(
                "This account is not an admin or owner of any organization.", code="not_an_admin"
            )


class TenantAdminSite(admin.AdminSite):
    site_header = "Vigil — manage your organization"
    site_title = "Vigil — manage"
    index_title = "Your organizations"
    login_form = TenantAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and administers_any_organization(request)

    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        """Signed-in users who administer nothing get 403, as in the UI and API, not a login loop."""
        inner = super().admin_view(view, cacheable)

        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied("Only admins and owners of an organization can use /manage/.")
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, inner)


tenant_admin_site = TenantAdminSite(name="manage")


class TenantScopedAdmin(ServiceBackedAdmin):
    """Base for every model admin on `tenant_admin_site`; see the note at the top of this module."""

    organization_lookup: ClassVar[str] = "organization"
    required_role: ClassVar[str] = Role.ADMIN

    def organization_ids(self, request: HttpRequest) -> set[int]:
        return {
            org_id
            for org_id, membership in memberships_of(request).items()
            if membership.can(self.required_role)
        }

    def organization_id_of(self, obj: models.Model) -> int | None:
        *path, last = self.organization_lookup.split("__")
        target: Any = obj
        for name in path:
            target = getattr(target, name)
        if last == "pk":
            return target.pk
        return getattr(target, target._meta.get_field(last).attname)

    def acting_membership(self, request: HttpRequest, organization: Organization) -> Membership:
        membership = memberships_of(request).get(organization.pk)
        if membership is None:
            raise PermissionDenied("You are not a member of this organization.")
        return membership

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        scope = {f"{self.organization_lookup}__in": self.organization_ids(request)}
        return super().get_queryset(request).filter(**scope)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        # Django's admin redirects to its index for a missing object; another tenant's object
        # must look exactly like a missing one, and both are a plain 404.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such object.")
        return obj

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        lookup = FOREIGN_KEY_SCOPES.get(related)
        if lookup is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__} shows a foreign key to {related.__name__}, which has no entry in "
                "FOREIGN_KEY_SCOPES; add one or leave the field out of the form."
            )
        ids = self.organization_ids(request)
        kwargs["queryset"] = related._default_manager.filter(**{f"{lookup}__in": ids})
        if related is Organization and len(ids) == 1:
            kwargs.setdefault("initial", next(iter(ids)))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _allows(self, request: HttpRequest, obj: models.Model | None) -> bool:
        ids = self.organization_ids(request)
        return bool(ids) if obj is None else self.organization_id_of(obj) in ids

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allows(request, None)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allows(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._allows(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allows(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allows(request, obj)


organization_filter = ("organization", admin.RelatedOnlyFieldListFilter)


@admin.register(Project, site=tenant_admin_site)
class ProjectTenantAdmin(ProjectAdminBase, TenantScopedAdmin):
    organization_lookup = "organization"
    list_display = ("name", "organization", "created_at")
    list_filter = (organization_filter,)
    search_fields = ("name",)
    list_select_related = ("organization",)
    fields = ("organization", "name", "created_at")


@admin.register(ApiKey, site=tenant_admin_site)
class ApiKeyTenantAdmin(ApiKeyAdminBase, TenantScopedAdmin):
    organization_lookup = "project__organization"
    list_filter = (
        "scope",
        ("project", admin.RelatedOnlyFieldListFilter),
        ("revoked_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("prefix", "name")
    list_select_related = ("project", "created_by")

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return self._allows(request, None)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        with refused_by_service():
            key, secret = services.api_key_create(
                obj.project, obj.scope, obj.name, by=Actor.from_request(request)
            )
        adopt(obj, key)
        self.message_user(
            request,
            format_html(
                "Copy the new key now; it will not be shown again: <code>{}</code>",
                secret,
            ),
            messages.WARNING,
        )

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> Any:
        # Rendered, not redirected: a message waiting for the next page would sit in the messages
        # cookie or the session, and the secret must not be stored anywhere. The POST carries
        # "_save", so the changelist treats it as neither an action nor a bulk edit.
        return self.changelist_view(request)


@admin.register(Membership, site=tenant_admin_site)
class MembershipTenantAdmin(MembershipAdminBase, TenantScopedAdmin):
    organization_lookup = "organization"
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", organization_filter)
    search_fields = ("user__email", "user__name")
    list_select_related = ("user", "organization")


@admin.register(Invitation, site=tenant_admin_site)
class InvitationTenantAdmin(InvitationAdminBase, TenantScopedAdmin):
    organization_lookup = "organization"
    list_display = ("email", "organization", "role", "invited_by", "created_at", "expires_at", "accepted_at")
    list_filter = ("role", organization_filter, ("accepted_at", admin.EmptyFieldListFilter))
    search_fields = ("email",)
    list_select_related = ("organization", "invited_by")


@admin.register(AuditEvent, site=tenant_admin_site)
class AuditEventTenantAdmin(HistoryAdmin, TenantScopedAdmin):
    """The organization's audit log (admins may view it, DESIGN.md §5); nobody may change it."""

    organization_lookup = "organization_id"
    list_display = ("created_at", "action", "actor", "target_type", "target_repr", "ip")
    list_filter = ("action",)
    search_fields = ("actor_email", "actor_key_prefix", "target_repr")
    exclude = ("organization_id", "actor_user_id", "actor_key_id")
    # COUNT(*) over a large audit table is slow and the pager works without it.
    show_full_result_count = False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
