"""Events become telemetry: errors_event range-partitioned by day on `received` (retention drops
whole days), written by COPY and grouped afterwards (issue_id NULL until then), with the dedup
keys in errors_eventid (apps/errors/storage.py says why). Existing events move over with their
ids; the old table is dropped.

The table stays a Django model for reads (selectors, API), unmanaged: its DDL is here.
"""

from django.db import migrations, models

FORWARD = """
ALTER TABLE errors_event RENAME TO errors_event_old;
ALTER TABLE errors_event_old RENAME CONSTRAINT errors_event_pkey TO errors_event_old_pkey;
ALTER TABLE errors_event_old DROP CONSTRAINT errors_event_unique;
DROP INDEX errors_event_received;
DROP INDEX errors_event_expiry;
DROP INDEX errors_event_issue;
DROP INDEX errors_event_trace;

CREATE SEQUENCE errors_event_ids AS bigint;
CREATE TABLE errors_event (
    id          bigint       NOT NULL DEFAULT nextval('errors_event_ids'),
    project_id  bigint       NOT NULL,
    issue_id    bigint,                      -- NULL until apps.errors.grouper assigns it
    event_id    uuid         NOT NULL,
    received    timestamptz  NOT NULL,
    timestamp   timestamptz  NOT NULL,
    level       varchar(16)  NOT NULL DEFAULT 'error',
    title       varchar(255) NOT NULL DEFAULT '',
    release     varchar(200) NOT NULL DEFAULT '',
    environment varchar(64)  NOT NULL DEFAULT '',
    platform    varchar(32)  NOT NULL DEFAULT '',
    trace_id    varchar(32)  NOT NULL DEFAULT '',
    span_id     varchar(16)  NOT NULL DEFAULT '',
    user_key    varchar(200) NOT NULL DEFAULT '',
    hashes      jsonb        NOT NULL DEFAULT '[]',
    data        jsonb        NOT NULL,
    PRIMARY KEY (id, received)
) PARTITION BY RANGE (received);
ALTER SEQUENCE errors_event_ids OWNED BY errors_event.id;
-- An issue's events, newest first, paged by id (selectors.events_of); merges move them by issue.
CREATE INDEX errors_event_issue ON errors_event (issue_id, id);
-- The issue page's trace and logs links and the trace page's way back (contexts.trace).
CREATE INDEX errors_event_trace ON errors_event (project_id, trace_id, span_id) WHERE trace_id <> '';
-- The grouper's claim: a project's ungrouped events, oldest first. Tiny: rows leave it within a
-- second of arriving.
CREATE INDEX errors_event_ungrouped ON errors_event (project_id, id) WHERE issue_id IS NULL;

CREATE TABLE errors_eventid (
    project_id bigint      NOT NULL,
    event_id   uuid        NOT NULL,
    received   timestamptz NOT NULL,
    PRIMARY KEY (project_id, event_id)
);
-- The hourly trim of keys past the dedup window.
CREATE INDEX errors_eventid_received ON errors_eventid (received);
"""

MOVE = """
INSERT INTO errors_event (id, project_id, issue_id, event_id, received, timestamp, level, title, release,
    environment, platform, trace_id, span_id, user_key, hashes, data)
SELECT id, project_id, issue_id, event_id, received, timestamp, level, title, release,
    environment, platform, trace_id, span_id, user_key, hashes, data
FROM errors_event_old;
INSERT INTO errors_eventid (project_id, event_id, received)
SELECT project_id, event_id, received FROM errors_event_old ON CONFLICT DO NOTHING;
SELECT setval('errors_event_ids', (SELECT max(id) FROM errors_event_old))
WHERE EXISTS (SELECT FROM errors_event_old);
DROP TABLE errors_event_old;
"""


def move_events(apps, schema_editor):
    """Day partitions for the days existing events arrived on, then the rows themselves."""
    from apps.errors import storage

    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT (received AT TIME ZONE 'UTC')::date FROM errors_event_old")
        days = [day for (day,) in cursor.fetchall()]
        storage.ensure_partitions(days)
        cursor.execute(MOVE)


class Migration(migrations.Migration):
    dependencies = [
        ("errors", "0002_event_errors_event_expiry"),
        ("projects", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(FORWARD),
                migrations.RunPython(move_events),
            ],
            state_operations=[
                migrations.RemoveConstraint(model_name="event", name="errors_event_unique"),
                migrations.RemoveIndex(model_name="event", name="errors_event_received"),
                migrations.RemoveIndex(model_name="event", name="errors_event_expiry"),
                migrations.RemoveIndex(model_name="event", name="errors_event_issue"),
                migrations.RemoveIndex(model_name="event", name="errors_event_trace"),
                migrations.AlterField(
                    model_name="event",
                    name="issue",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.CASCADE,
                        related_name="events",
                        to="errors.issue",
                    ),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="project",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="+",
                        to="projects.project",
                    ),
                ),
                migrations.AlterModelOptions(
                    name="event", options={"managed": False, "ordering": ["-received"]}
                ),
            ],
        ),
    ]
