"""Per-minute counts of spans and metric points per project, for the overview's charts and the
organization home (maintained by apps.dashboards.counts; logs have their own, apps.logs.counts).

Raw SQL like the other telemetry-derived tables: no Django model, rows are upserted in bulk.
Small by construction (one row per project and minute with data), so it is not partitioned;
minutes past the longest span/point retention are deleted by the count task itself.
"""

from django.db import migrations

CREATE = """
CREATE TABLE dashboards_event_count_1m (
    project_id   bigint      NOT NULL,
    minute       timestamptz NOT NULL,
    spans        bigint      NOT NULL,
    span_errors  bigint      NOT NULL,
    points       bigint      NOT NULL,
    -- Covering: a chart reads one project's minutes of a range from the index alone.
    PRIMARY KEY (project_id, minute) INCLUDE (spans, span_errors, points)
);
-- The count task deletes minutes past retention for all projects (rows arrive in minute order).
CREATE INDEX dashboards_event_count_1m_minute ON dashboards_event_count_1m USING brin (minute);
-- One row: every minute before counted_until has been counted (later arrivals within the late
-- window are recounted). Its row lock is how one count run claims the work.
CREATE TABLE dashboards_event_count_watermark (
    id            smallint PRIMARY KEY CHECK (id = 1),
    counted_until timestamptz
);
INSERT INTO dashboards_event_count_watermark (id, counted_until) VALUES (1, NULL);
"""

DROP = """
DROP TABLE IF EXISTS dashboards_event_count_watermark;
DROP TABLE IF EXISTS dashboards_event_count_1m;
"""


class Migration(migrations.Migration):
    dependencies = [("dashboards", "0001_demo_feed"), ("traces", "0001_initial"), ("metrics", "0002_rollups")]

    operations = [migrations.RunSQL(CREATE, DROP)]
