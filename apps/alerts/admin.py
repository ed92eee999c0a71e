"""Alert policies in the staff admin (/admin/) and in the tenant admin (/manage/), where org
admins manage their own projects' policies; both write through the services (validated, audited).
Incidents, transitions and heartbeats are shown to staff read-only: they are history."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from apps.alerts import services
from apps.alerts.models import Heartbeat, Incident, Policy, Transition
from apps.alerts.specs import SpecError
from apps.ops.admin_base import HistoryAdmin, ServiceFormAdmin
from apps.projects.admin import refused_by_service
from apps.projects.tenant_admin import TenantScopedAdmin, tenant_admin_site

POLICY_FIELDS = (
    "project",
    "name",
    "description",
    "kind",
    "spec",
    "op",
    "threshold",
    "resolve_threshold",
    "window_seconds",
    "for_seconds",
    "keep_firing_for_seconds",
    "interval_seconds",
    "no_data",
    "on_error",
    "flap_stable_seconds",
    "priority",
    "runbook_url",
    "labels",
    "enabled",
)
# Which form field shows an error of check_policy (its keys are the API's names).
ERROR_FIELDS = {
    "interval": "interval_seconds",
    "window": "window_seconds",
    "op": "op",
    "name": "name",
    "labels": "labels",
    "kind": "kind",
}


class PolicyForm(forms.ModelForm):
    runbook_url = forms.URLField(max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = Policy
        fields = POLICY_FIELDS
        help_texts = {
            "spec": 'The kind\'s settings as JSON, e.g. {"query": "level>=error"}; error issues: {} for'
            ' new_issue / issue_regression / issue_unignored, {"issue_id": null, "per_issue": true} for'
            " issue_events (see the API docs).",
            "window_seconds": "Seconds of data each evaluation reads (60 to 86400).",
            "interval_seconds": "Seconds between evaluations: at least 10, a multiple of 10.",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # Read-only fields (project, kind once saved) are not in the form: start from the instance.
        candidate = Policy(
            **{name: getattr(self.instance, name, None) for name in POLICY_FIELDS if name != "project"}
        )
        for name, value in cleaned.items():
            if name in POLICY_FIELDS and name != "project":
                setattr(candidate, name, value)
        try:
            services.check_policy(candidate)
        except SpecError as exc:
            for key, message in exc.errors.items():
                field = ERROR_FIELDS.get(key, "spec")
                self.add_error(field if field in self.fields else None, f"{key}: {message}")
        else:
            cleaned["spec"] = candidate.spec
        return cleaned


class PolicyAdminBase(ServiceFormAdmin):
    form = PolicyForm
    list_display = ("name", "project", "kind", "priority", "enabled", "last_evaluated_at")
    list_filter: ClassVar[tuple[Any, ...]] = ("kind", "priority", "enabled")
    search_fields = ("name",)
    list_select_related = ("project",)
    create_fields, owner_field, stored_related = POLICY_FIELDS, "project", ("project__organization",)

    def get_readonly_fields(self, request: HttpRequest, obj: Policy | None = None) -> tuple[str, ...]:
        # A policy stays in its project and keeps its kind: its instances and history mean that.
        return () if obj is None else ("project", "kind")

    def create(self, owner: Any, values: dict[str, Any], user: Any) -> Policy:
        with refused_by_service():  # the plan's policy limit: a message, not a 500
            return services.policy_create(owner, values, user)

    def update(self, stored: Policy, fields: dict[str, Any], user: Any) -> Policy:
        return services.policy_update(stored, fields, user)

    def delete_model(self, request: HttpRequest, obj: Policy) -> None:
        services.policy_delete(obj, request.user)


@admin.register(Policy)
class PolicyAdmin(PolicyAdminBase):
    pass


@admin.register(Policy, site=tenant_admin_site)
class PolicyTenantAdmin(PolicyAdminBase, TenantScopedAdmin):
    organization_lookup = "project__organization"
    list_filter = ("kind", "priority", "enabled", ("project", admin.RelatedOnlyFieldListFilter))


@admin.register(Incident)
class IncidentAdmin(HistoryAdmin):
    list_display = ("title", "project", "state", "priority", "opened_at", "acknowledged_at", "resolved_at")
    list_filter = ("state", "priority")
    list_select_related = ("project",)
    search_fields = ("title",)


@admin.register(Transition)
class TransitionAdmin(HistoryAdmin):
    list_display = ("at", "policy", "from_state", "to_state", "value", "threshold", "notify", "notified_at")
    list_filter = ("to_state", "notify")
    list_select_related = ("policy",)
    show_full_result_count = False


@admin.register(Heartbeat)
class HeartbeatAdmin(HistoryAdmin):
    list_display = ("name", "project", "schedule_kind", "last_ping_at", "last_ping_kind")
    list_select_related = ("project",)
    exclude = ("uuid",)  # the ping URL's secret
