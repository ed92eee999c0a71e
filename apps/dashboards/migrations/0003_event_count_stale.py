"""Minutes of spans and metric points that arrived later than the count task's late window: noted
by ingestion in the same transaction as the rows, recounted by apps.dashboards.counts."""

from django.db import migrations

CREATE = """
CREATE TABLE dashboards_event_count_stale (
    project_id  bigint      NOT NULL,
    minute_from timestamptz NOT NULL,
    minute_to   timestamptz NOT NULL,
    noted_at    timestamptz NOT NULL DEFAULT now()
);
"""


class Migration(migrations.Migration):
    dependencies = [("dashboards", "0002_event_counts")]
    operations = [migrations.RunSQL(CREATE, "DROP TABLE IF EXISTS dashboards_event_count_stale;")]
