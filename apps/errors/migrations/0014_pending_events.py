"""Events are stored with their issue, and counted from a narrow pending row (apps/errors/hashmap.py
says why): errors_pendingevent, which the grouper empties with DELETE … RETURNING. The events
still waiting for the grouper (issue_id NULL) get their pending row here; the partial index of
ungrouped events goes, nothing claims from errors_event any more. Reversed, the events not yet
counted are made ungrouped again, as the grouper of before expects them.

The table is a queue: rows live for a fraction of a second, so autovacuum is told to clean it
after a fixed number of dead rows instead of a fraction of a table that is nearly always empty."""

import django.db.models.deletion
from django.db import migrations, models

PENDING = """
INSERT INTO errors_pendingevent (event, project_id, received, issue_id, primary_hash, secondary_hash,
    level, release, environment, user_key)
SELECT id, project_id, received, NULL, coalesce(split_part(hashes->>0, ':', 2), ''),
    coalesce(split_part(hashes->>1, ':', 2), ''), level, release, environment, user_key
FROM errors_event WHERE issue_id IS NULL;
DROP INDEX errors_event_ungrouped;
ALTER TABLE errors_pendingevent SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 20000,
    autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 20000);
"""

UNPENDING = """
CREATE INDEX errors_event_ungrouped ON errors_event (project_id, id) WHERE issue_id IS NULL;
UPDATE errors_event SET issue_id = NULL WHERE id IN (SELECT event FROM errors_pendingevent);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("errors", "0013_issue_list_minute"),
        ("projects", "0002_apikey_manage_scope"),
    ]

    operations = [
        migrations.CreateModel(
            name="PendingEvent",
            fields=[
                ("event", models.BigIntegerField(primary_key=True, serialize=False)),
                ("received", models.DateTimeField()),
                ("issue_id", models.BigIntegerField(null=True)),
                ("primary_hash", models.CharField(max_length=32)),
                ("secondary_hash", models.CharField(blank=True, max_length=32)),
                ("level", models.CharField(max_length=16)),
                ("release", models.CharField(blank=True, max_length=200)),
                ("environment", models.CharField(blank=True, max_length=64)),
                ("user_key", models.CharField(blank=True, max_length=200)),
                (
                    "project",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="projects.project",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["project", "event"], name="errors_pending_project")],
            },
        ),
        migrations.RunSQL(PENDING, UNPENDING),
    ]
