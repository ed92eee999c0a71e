"""Minutes whose counts went stale because logs arrived later than the count task's late window.

Ingestion notes such a range in the same transaction as the rows (apps.logs.counts.note_late_rows),
so a committed straggler always has its note; the count task claims notes with SKIP LOCKED and
recounts just those minutes of just that project. Stragglers are rare: the table stays tiny.
"""

from django.db import migrations

CREATE = """
CREATE TABLE logs_count_stale (
    project_id  bigint      NOT NULL,
    minute_from timestamptz NOT NULL,
    minute_to   timestamptz NOT NULL,
    noted_at    timestamptz NOT NULL DEFAULT now()
);
"""


class Migration(migrations.Migration):
    dependencies = [("logs", "0002_counts_and_search")]
    operations = [migrations.RunSQL(CREATE, "DROP TABLE IF EXISTS logs_count_stale;")]
