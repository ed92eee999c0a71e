"""The issue list's index holds last_seen's minute, not last_seen: the grouper's issue UPDATE
rewrites last_seen with nearly every event, and with last_seen indexed none of those UPDATEs was
HOT — in a benchmark run, 22 of 153,938 (pg_stat_user_tables): each wrote a new entry in every
index of errors_issue and left a dead row for vacuum, on a table of ~1,000 rows. The minute
changes at most once a minute per issue, so the other UPDATEs can stay on their page (fillfactor
70 leaves the room; the column's addition rewrites the table with it).

`vigil_epoch_minute` is declared IMMUTABLE, which a generated column needs: minutes since the Unix
epoch do not depend on the session's time zone, though PostgreSQL marks `extract` on timestamptz
STABLE for the fields that do."""

from django.db import migrations, models

MINUTE = """
CREATE FUNCTION vigil_epoch_minute(timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT floor(extract(epoch FROM $1) / 60)::bigint $$
"""


class Migration(migrations.Migration):
    dependencies = [
        ("errors", "0012_issue_indexes"),
        ("projects", "0002_apikey_manage_scope"),
    ]

    operations = [
        migrations.RunSQL(MINUTE, "DROP FUNCTION vigil_epoch_minute(timestamptz)"),
        migrations.RunSQL(
            "ALTER TABLE errors_issue SET (fillfactor = 70)", "ALTER TABLE errors_issue RESET (fillfactor)"
        ),
        migrations.RemoveIndex(
            model_name="issue",
            name="errors_issue_list",
        ),
        migrations.AddField(
            model_name="issue",
            name="last_seen_minute",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Func(
                    models.F("last_seen"),
                    function="vigil_epoch_minute",
                    output_field=models.BigIntegerField(),
                ),
                output_field=models.BigIntegerField(),
            ),
        ),
        migrations.AddIndex(
            model_name="issue",
            index=models.Index(fields=["project", "status", "-last_seen_minute"], name="errors_issue_recent"),
        ),
    ]
