"""Ignore an issue until N events arrive within a window (issue 20 §4)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("errors", "0008_issue_hours"),
    ]

    operations = [
        migrations.AddField(
            model_name="issue",
            name="ignore_window_counts",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="issue",
            name="ignore_window_seconds",
            field=models.IntegerField(blank=True, null=True),
        ),
    ]
