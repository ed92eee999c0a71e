"""The metric's description as its client sent it (OTLP `Metric.description`), shown by the metric
list. Per series, as the first export of the series sent it: not part of the series identity, so a
reworded description never starts a new series."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("metrics", "0003_exemplars")]
    operations = [
        migrations.RunSQL(
            "ALTER TABLE metrics_series ADD COLUMN description text NOT NULL DEFAULT ''",
            "ALTER TABLE metrics_series DROP COLUMN IF EXISTS description",
        )
    ]
