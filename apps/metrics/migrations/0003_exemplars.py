"""Exemplars: the sample measurements OTLP points carry with the span they were taken in.

Kept on their point as one jsonb array ([{time_unix_nano, value, trace_id, span_id, attributes}]):
they belong to the point, arrive with it and expire with it, so no table, partitions or retention
of their own. Most points have none; adding a nullable column without a default is a catalog
change only, and a NULL costs COPY four bytes.

The partial index serves the chart's "exemplars of these series in this range" read without
scanning the points that have none; it is empty for points without exemplars, so the ingestion
hot path pays only the predicate.
"""

from django.db import migrations

FORWARD = """
ALTER TABLE metrics_point ADD COLUMN exemplars jsonb;
CREATE INDEX metrics_point_exemplars ON metrics_point (project_id, series_id, ts) WHERE exemplars IS NOT NULL;
"""
BACKWARD = """
DROP INDEX IF EXISTS metrics_point_exemplars;
ALTER TABLE metrics_point DROP COLUMN IF EXISTS exemplars;
"""


class Migration(migrations.Migration):
    dependencies = [("metrics", "0002_rollups")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
