"""Channel config and webhook secrets encrypted at rest (apps.notifications.encryption): the
columns become text, then every existing plain value is replaced by its Fernet token (and back
when migrating backwards)."""

from typing import Any

from django.db import migrations

import apps.notifications.encryption
from apps.notifications.encryption import TOKEN_PREFIX, decrypt, encrypt

SELECT = "SELECT id, config, secret, previous_secret FROM notifications_channel FOR UPDATE"
UPDATE = "UPDATE notifications_channel SET config = %s, secret = %s, previous_secret = %s WHERE id = %s"


def _rewrite(schema_editor: Any, change: Any) -> None:
    # Raw SQL: the historical model's fields would decrypt on load, and these rows are not
    # encrypted yet (or, backwards, must become plain again).
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SELECT)
        for pk, *values in cursor.fetchall():
            new = [change(value) if value else value for value in values]
            if new != values:
                cursor.execute(UPDATE, [*new, pk])


def encrypt_existing(apps: Any, schema_editor: Any) -> None:
    _rewrite(schema_editor, lambda value: value if value.startswith(TOKEN_PREFIX) else encrypt(value))


def decrypt_existing(apps: Any, schema_editor: Any) -> None:
    _rewrite(schema_editor, lambda value: decrypt(value) if value.startswith(TOKEN_PREFIX) else value)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0003_noticegroup_announced"),
    ]

    operations = [
        # jsonb -> text holding a token; backwards PostgreSQL needs to be told how to cast.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="channel",
                    name="config",
                    field=apps.notifications.encryption.EncryptedJSONField(blank=True, default=dict),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE notifications_channel ALTER COLUMN config TYPE text USING config::text",
                    "ALTER TABLE notifications_channel ALTER COLUMN config TYPE jsonb USING config::jsonb",
                ),
            ],
        ),
        migrations.AlterField(
            model_name="channel",
            name="previous_secret",
            field=apps.notifications.encryption.EncryptedTextField(blank=True, default="", editable=False),
        ),
        migrations.AlterField(
            model_name="channel",
            name="secret",
            field=apps.notifications.encryption.EncryptedTextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
