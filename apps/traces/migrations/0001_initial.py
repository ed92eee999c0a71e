"""Span storage: range-partitioned by day on `start_ts`, keyed by project_id first.

Not a Django model on purpose: spans are written through psycopg COPY (apps.ingestion.writer).
"""

from django.db import migrations

CREATE = """
CREATE TABLE traces_span (
    project_id     bigint      NOT NULL,
    trace_id       text        NOT NULL,          -- 32 lowercase hex chars
    span_id        text        NOT NULL,          -- 16 lowercase hex chars
    parent_span_id text,
    name           text        NOT NULL DEFAULT '',
    kind           smallint    NOT NULL DEFAULT 0, -- OTLP SpanKind number
    start_ts       timestamptz NOT NULL,
    end_ts         timestamptz NOT NULL,
    duration_ns    bigint      NOT NULL,           -- exact: timestamptz keeps only microseconds
    status_code    smallint    NOT NULL DEFAULT 0, -- 0 unset, 1 ok, 2 error
    status_message text        NOT NULL DEFAULT '',
    service        text        NOT NULL DEFAULT '',
    trace_state    text        NOT NULL DEFAULT '',
    attributes     jsonb       NOT NULL DEFAULT '{}',
    resource       jsonb       NOT NULL DEFAULT '{}',
    events         jsonb       NOT NULL DEFAULT '[]',
    links          jsonb       NOT NULL DEFAULT '[]'
) PARTITION BY RANGE (start_ts);
-- The trace view loads every span of one trace.
CREATE INDEX traces_span_project_trace ON traces_span (project_id, trace_id);
-- Recent spans of a project (lists, service overviews).
CREATE INDEX traces_span_project_start ON traces_span (project_id, start_ts DESC);
"""


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [migrations.RunSQL(CREATE, "DROP TABLE IF EXISTS traces_span CASCADE;")]
