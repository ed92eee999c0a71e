"""Log storage: one table range-partitioned by day on `ts`, keyed by project_id first.

Not a Django model on purpose: rows arrive by the thousand through psycopg COPY
(apps.ingestion.writer), and partitions are created by apps.ingestion.partitions.
"""

from django.db import migrations

CREATE = """
CREATE TABLE logs_event (
    project_id  bigint      NOT NULL,
    ts          timestamptz NOT NULL,
    observed_ts timestamptz NOT NULL,
    level       smallint    NOT NULL DEFAULT 0,   -- OTLP severity number (0 = unspecified)
    service     text        NOT NULL DEFAULT '',
    trace_id    text,                             -- 32 lowercase hex chars, or NULL
    span_id     text,                             -- 16 lowercase hex chars, or NULL
    message     text        NOT NULL DEFAULT '',
    attributes  jsonb       NOT NULL DEFAULT '{}',
    resource    jsonb       NOT NULL DEFAULT '{}'
) PARTITION BY RANGE (ts);
-- "Newest first in a time range" for one project: the search API's default order.
CREATE INDEX logs_event_project_ts ON logs_event (project_id, ts DESC);
-- Trace view joins a trace's logs by trace id.
CREATE INDEX logs_event_project_trace ON logs_event (project_id, trace_id) WHERE trace_id IS NOT NULL;
"""


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [migrations.RunSQL(CREATE, "DROP TABLE IF EXISTS logs_event CASCADE;")]
