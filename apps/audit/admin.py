"""Staff view of the audit trail: strictly read-only, like the table itself."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.audit.models import AuditEvent
from apps.projects.models import Organization


class OrganizationFilter(admin.SimpleListFilter):
    """By organization id (indexed), offering current organizations by name. Events of deleted
    organizations are still found by searching their recorded name."""

    title = "organization"
    parameter_name = "organization_id"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        organizations = Organization.objects.order_by("name").values_list("pk", "name")
        return [(str(pk), name) for pk, name in organizations]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        value = self.value()
        if value is None:
            return queryset
        try:
            return queryset.filter(organization_id=int(value))
        except ValueError:
            return queryset.none()


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "actor", "organization_name", "target_type", "target_repr", "ip")
    list_filter = ("action", OrganizationFilter)
    search_fields = ("actor_email", "actor_key_prefix", "target_repr", "target_id", "organization_name")
    date_hierarchy = "created_at"
    # COUNT(*) over a large audit table is slow and the pager works without it.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
