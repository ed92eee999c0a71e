"""Channels in the staff admin (/admin/) and the tenant admin (/manage/), written through the
services (validated, SSRF-checked, audited); a new webhook's secret is shown once. Deliveries
(with their attempts) are a read-only log in both."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html

from apps.alerts.models import Policy
from apps.notifications import channels as services
from apps.notifications.channels import ChannelError
from apps.notifications.models import Attempt, Channel, Delivery, Route
from apps.ops.admin_base import HistoryAdmin, ServiceAdmin, ServiceFormAdmin, ServiceRefused, adopt
from apps.projects.tenant_admin import FOREIGN_KEY_SCOPES, TenantScopedAdmin, tenant_admin_site

CHANNEL_FIELDS = ("organization", "name", "kind", "config", "is_default", "send_resolved", "enabled")


class ChannelForm(forms.ModelForm):
    class Meta:
        model = Channel
        fields = CHANNEL_FIELDS
        help_texts = {
            "config": 'JSON. email: {"addresses": ["a@example.com"]} or {"role": "admin"}; slack: {"url": …};'
            ' pagerduty: {"routing_key": …}; webhook: {"url": …}.',
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind") or self.instance.kind
        candidate = Channel(
            kind=kind, name=cleaned.get("name", self.instance.name), config=cleaned.get("config")
        )
        try:
            services.check_channel(candidate)
        except ChannelError as exc:
            for key, message in exc.errors.items():
                field = key if key in self.fields else "config"
                self.add_error(field if field in self.fields else None, f"{key}: {message}")
        else:
            cleaned["config"] = candidate.config
        return cleaned


class ChannelAdminBase(ServiceFormAdmin):
    form = ChannelForm
    list_display = ("name", "organization", "kind", "is_default", "enabled", "warning")
    list_filter: ClassVar[Any] = ("kind", "enabled")
    search_fields = ("name",)
    list_select_related = ("organization",)
    create_fields, owner_field, stored_related = CHANNEL_FIELDS, "organization", ("organization",)

    def get_readonly_fields(self, request: HttpRequest, obj: Channel | None = None) -> tuple[str, ...]:
        return ("warning",) if obj is None else ("organization", "kind", "warning", "warning_at")

    def create(self, owner: Any, values: dict[str, Any], user: Any) -> Channel:
        return services.channel_create(owner, values, user)

    def update(self, stored: Channel, fields: dict[str, Any], user: Any) -> Channel:
        return services.channel_update(stored, fields, user)

    def save_model(self, request: HttpRequest, obj: Channel, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change and obj.secret:
            self.message_user(
                request,
                format_html(
                    "Copy the signing secret now; it will not be shown again: <code>{}</code>", obj.secret
                ),
                messages.WARNING,
            )

    def response_add(self, request: HttpRequest, obj: Channel, post_url_continue: str | None = None) -> Any:
        # Rendered, not redirected, when a secret is shown: a message waiting for the next page
        # would be stored in the session or a cookie.
        if obj.secret:
            return self.changelist_view(request)
        return super().response_add(request, obj, post_url_continue)

    def delete_model(self, request: HttpRequest, obj: Channel) -> None:
        services.channel_delete(obj, request.user)


@admin.register(Channel)
class ChannelAdmin(ChannelAdminBase):
    pass


@admin.register(Channel, site=tenant_admin_site)
class ChannelTenantAdmin(ChannelAdminBase, TenantScopedAdmin):
    organization_lookup = "organization"
    list_filter = ("kind", "enabled", ("organization", admin.RelatedOnlyFieldListFilter))


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = ("number", "at", "status_code", "outcome", "error", "response_excerpt", "duration_ms")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True  # shown only inside a delivery, which its admin has already scoped


class DeliveryAdminBase(HistoryAdmin):
    list_display = ("created_at", "channel", "event", "state", "attempts", "message_id", "last_error")
    list_filter: ClassVar[Any] = ("state", "event")
    list_select_related = ("channel",)
    fields = (
        "channel",
        "event",
        "message_id",
        "dedup_key",
        "state",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
        "payload",
    )
    readonly_fields = fields
    inlines = (AttemptInline,)
    show_full_result_count = False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(DeliveryAdminBase):
    pass


@admin.register(Delivery, site=tenant_admin_site)
class DeliveryTenantAdmin(DeliveryAdminBase, TenantScopedAdmin):
    organization_lookup = "organization"
    list_filter = ("state", "event", ("channel", admin.RelatedOnlyFieldListFilter))


# Forms of /manage/ may offer channels and policies (a route's) only from the user's organizations.
FOREIGN_KEY_SCOPES.setdefault(Channel, "organization")
FOREIGN_KEY_SCOPES.setdefault(Policy, "project__organization")


class RouteAdminBase(ServiceAdmin):
    list_display = ("channel", "organization", "policy", "priorities", "labels")
    list_select_related = ("channel", "organization", "policy")
    fields = (
        "organization",
        "channel",
        "policy",
        "priorities",
        "labels",
        "group_wait_seconds",
        "group_interval_seconds",
        "repeat_interval_seconds",
    )

    def save_model(self, request: HttpRequest, obj: Route, form: forms.ModelForm, change: bool) -> None:
        if obj.channel.organization_id != obj.organization_id or (
            obj.policy is not None and obj.policy.project.organization_id != obj.organization_id
        ):
            raise ServiceRefused("The channel and the policy must belong to the route's organization.")
        if change:
            super().save_model(request, obj, form, change)
            return
        values = {name: form.cleaned_data.get(name) for name in self.fields if name != "organization"}
        adopt(obj, services.route_create(obj.organization, values, request.user))

    def delete_model(self, request: HttpRequest, obj: Route) -> None:
        services.route_delete(obj, request.user)


@admin.register(Route)
class RouteAdmin(RouteAdminBase):
    pass


@admin.register(Route, site=tenant_admin_site)
class RouteTenantAdmin(RouteAdminBase, TenantScopedAdmin):
    organization_lookup = "organization"
