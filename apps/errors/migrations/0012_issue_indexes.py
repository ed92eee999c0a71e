"""Fewer indexes to keep up per grouped event: the grouper's issue UPDATE is never HOT (last_seen
is indexed for the issue list), so each index of errors_issue costs an insert per event. Dropped:
the indexes that a unique or list index leading with the same column already covers, and the
never-written `merged_into` column with its index. errors_issuehour gets fillfactor 50 so that the
grouper's `events + n` (no indexed column changes) is a HOT update, touching no index."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("errors", "0011_event_data_bytea"),
        ("projects", "0002_apikey_manage_scope"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE errors_issuehour SET (fillfactor = 50)",
            "ALTER TABLE errors_issuehour RESET (fillfactor)",
        ),
        migrations.RemoveField(
            model_name="issue",
            name="merged_into",
        ),
        migrations.AlterField(
            model_name="groupinghash",
            name="project",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="projects.project",
            ),
        ),
        migrations.AlterField(
            model_name="issue",
            name="project",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="issues",
                to="projects.project",
            ),
        ),
        migrations.AlterField(
            model_name="issuehour",
            name="issue",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="errors.issue",
            ),
        ),
        migrations.AlterField(
            model_name="issueuser",
            name="issue",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="errors.issue",
            ),
        ),
    ]
