from django.contrib import admin

from apps.ingestion.models import IngestionSettings


@admin.register(IngestionSettings)
class IngestionSettingsAdmin(admin.ModelAdmin):
    list_display = ["project", "updated_at"]
    raw_id_fields = ["project"]
    search_fields = ["project__name"]
