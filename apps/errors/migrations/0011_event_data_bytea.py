"""errors_event.data from jsonb to bytea (apps/errors/storage.py says why: PostgreSQL's JSON
parsing and pglz compression were most of its CPU per event). Existing rows keep their JSON as
plain UTF-8 text, which the codec reads as well as the LZ4-compressed rows written from now on;
STORAGE EXTERNAL: what is stored is compressed already. The ALTER rewrites every partition (on
the partitioned parent, one statement) under an exclusive lock: ingestion waits meanwhile, and
the SDKs retry what times out. Backwards, the compressed rows are decompressed in Python first
(PostgreSQL cannot read LZ4 blocks), then the column is jsonb again.
"""

from django.db import migrations

import apps.errors.models

FORWARD = """
ALTER TABLE errors_event
    ALTER COLUMN data TYPE bytea USING convert_to(data::text, 'UTF8'),
    ALTER COLUMN data SET STORAGE EXTERNAL;
"""
BACKWARD = """
ALTER TABLE errors_event
    ALTER COLUMN data TYPE jsonb USING convert_from(data, 'UTF8')::jsonb,
    ALTER COLUMN data SET STORAGE EXTENDED;
"""
BATCH = 1000


def decompress_rows(apps, schema_editor):
    """Every LZ4-compressed payload back to plain JSON text, BATCH rows per statement."""
    import orjson

    from apps.errors import storage

    with schema_editor.connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT id, received, data FROM errors_event WHERE substring(data FROM 1 FOR 1) = %s LIMIT %s",
                [storage.LZ4, BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                return
            cursor.executemany(
                "UPDATE errors_event SET data = %s WHERE id = %s AND received = %s",
                [(orjson.dumps(storage.data_decode(data)), id_, received) for id_, received, data in rows],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("errors", "0010_debug_ids_and_source_retention"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(FORWARD, BACKWARD),
                migrations.RunPython(migrations.RunPython.noop, decompress_rows),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="data",
                    field=apps.errors.models.EventDataField(),
                ),
            ],
        ),
    ]
