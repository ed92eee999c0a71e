import django.db.models.deletion
from django.db import migrations, models

import apps.ingestion.models


class Migration(migrations.Migration):
    initial = True

    dependencies = [("projects", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="IngestionSettings",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "redact_keys",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="Extra attribute key fragments whose values are masked (case-insensitive substring).",
                        validators=[apps.ingestion.models.validate_keys],
                    ),
                ),
                (
                    "redact_patterns",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="Extra regular expressions; matching text in messages and attribute values is masked.",
                        validators=[apps.ingestion.models.validate_patterns],
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "project",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="ingestion_settings",
                        to="projects.project",
                    ),
                ),
            ],
            options={"verbose_name_plural": "ingestion settings"},
        ),
    ]
