"""Staff operators manage plans and subscriptions here (the /admin/ site, not the tenant one)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps import audit
from apps.billing import services, state
from apps.billing.models import Plan, SpikeEpisode, Subscription, UsageDay, UsageRecount


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "events_per_month", "overage", "seats", "projects", "retention_warn_days"]
    search_fields = ["slug", "name"]

    def save_model(self, request: HttpRequest, obj: Plan, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit.record(
            "plan.update" if change else "plan.create",
            request=request,
            target=obj,
            target_repr=obj.slug,
            after=obj.limits(),
            extra={"changed": list(form.changed_data)},
        )
        state.forget()


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["organization", "plan", "started_at", "changed_at"]
    list_select_related = ["organization", "plan"]
    list_filter = ["plan"]
    search_fields = ["organization__name"]
    raw_id_fields = ["organization"]
    readonly_fields = ["started_at", "changed_at"]

    def save_model(self, request: HttpRequest, obj: Subscription, form: Any, change: bool) -> None:
        # Through the service: the change is audited and caches are told.
        services.subscription_change(obj.organization, obj.plan, actor=request.user, via="admin")


@admin.register(UsageDay)
class UsageDayAdmin(admin.ModelAdmin):
    list_display = ["day", "organization_id", "project_id", "signal", "outcome", "count"]
    list_filter = ["signal", "outcome"]
    search_fields = ["=organization_id", "=project_id"]
    date_hierarchy = "day"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # usage is what was measured; nobody edits it

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(UsageRecount)
class UsageRecountAdmin(admin.ModelAdmin):
    """What the nightly recount found: metered accepted records that do not match the stored rows."""

    list_display = [
        "day",
        "organization_id",
        "project_id",
        "signal",
        "metered",
        "stored",
        "difference",
        "checked_at",
    ]
    list_filter = ["signal"]
    search_fields = ["=organization_id", "=project_id"]
    date_hierarchy = "day"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(SpikeEpisode)
class SpikeEpisodeAdmin(admin.ModelAdmin):
    list_display = ["hour", "organization", "project_id", "threshold", "dropped", "emailed_at"]
    list_select_related = ["organization"]
    search_fields = ["organization__name", "=project_id"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
