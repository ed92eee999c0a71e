"""Hourly event counts per issue (the issue list's sparklines), backfilled from the last 14 days of
events already grouped."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("errors", "0007_file_chunks"),
    ]

    operations = [
        migrations.CreateModel(
            name="IssueHour",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("hour", models.DateTimeField()),
                ("events", models.BigIntegerField(default=0)),
                (
                    "issue",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="errors.issue"
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["hour"], name="errors_issue_hour_trim")],
                "constraints": [
                    models.UniqueConstraint(fields=("issue", "hour"), name="errors_issue_hour_unique")
                ],
            },
        ),
        migrations.RunSQL(
            "INSERT INTO errors_issuehour (issue_id, hour, events)"
            " SELECT issue_id, date_trunc('hour', received), count(*) FROM errors_event"
            " WHERE issue_id IS NOT NULL AND received >= now() - interval '14 days'"
            " GROUP BY 1, 2 ON CONFLICT (issue_id, hour) DO NOTHING",
            migrations.RunSQL.noop,
        ),
    ]
