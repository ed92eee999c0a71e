from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from apps import audit
from apps.ingestion.models import IngestionSettings
from apps.projects.tenant_admin import TenantScopedAdmin, tenant_admin_site

REDACTION_FIELDS = ("redact_keys", "redact_patterns")


def _snapshot(settings: IngestionSettings) -> dict[str, Any]:
    return {name: list(getattr(settings, name)) for name in REDACTION_FIELDS}


class AuditedSettingsMixin:
    """What a project redacts is security-relevant: every change and deletion is audited."""

    def save_model(
        self, request: HttpRequest, obj: IngestionSettings, form: forms.ModelForm, change: bool
    ) -> None:
        # The form's initial data is the stored state before this change (no second lookup).
        before = {name: list(form.initial.get(name) or []) for name in REDACTION_FIELDS} if change else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            audit.record(
                "project.redaction_update",
                request=request,
                organization=obj.project.organization,
                target=obj.project,
                before=before,
                after=_snapshot(obj),
            )

    def delete_model(self, request: HttpRequest, obj: IngestionSettings) -> None:
        with transaction.atomic():
            audit.record(
                "project.redaction_update",
                request=request,
                organization=obj.project.organization,
                target=obj.project,
                before=_snapshot(obj),
                after={"redact_keys": [], "redact_patterns": []},
            )
            super().delete_model(request, obj)  # type: ignore[misc]


@admin.register(IngestionSettings)
class IngestionSettingsAdmin(AuditedSettingsMixin, admin.ModelAdmin):
    list_display = ["project", "updated_at"]
    raw_id_fields = ["project"]
    search_fields = ["project__name"]


@admin.register(IngestionSettings, site=tenant_admin_site)
class IngestionSettingsTenantAdmin(AuditedSettingsMixin, TenantScopedAdmin):
    """Org admins extend their projects' redaction (they cannot remove the defaults)."""

    organization_lookup = "project__organization"
    list_display = ["project", "updated_at"]
    fields = ["project", "redact_keys", "redact_patterns", "log_time_zone"]
