"""Per-project ingestion settings. Only redaction lives here for now; limits are global settings."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models


def validate_patterns(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("A list of regular expressions is expected.")
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValidationError(f"Invalid regular expression {pattern!r}: {exc}") from None


def validate_keys(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValidationError("A list of attribute key fragments is expected.")


class IngestionSettings(models.Model):
    """Extends (never replaces) the default redaction of apps.ingestion.redaction."""

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, related_name="ingestion_settings"
    )
    redact_keys = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_keys],
        help_text="Extra attribute key fragments whose values are masked (case-insensitive substring).",
    )
    redact_patterns = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_patterns],
        help_text="Extra regular expressions; matching text in messages and attribute values is masked.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "ingestion settings"

    def __str__(self) -> str:
        return f"ingestion settings of project {self.project_id}"
