"""The database role split: the owner role runs migrations, the runtime role runs the app.

Why: the audit log's append-only trigger (migration 0002) only binds a role that cannot switch it
off. A superuser, or the owner of the table, can TRUNCATE it, `ALTER TABLE … DISABLE TRIGGER` or
`SET session_replication_role = replica` and rewrite history. So when DATABASE_RUNTIME_ROLE names
the role the app connects as, every migrate (run as the owner) ends here and leaves it with:
  * SELECT and INSERT on the audit table, nothing more (no UPDATE, DELETE, TRUNCATE; not its
    owner, so no ALTER TABLE and no trigger switching; and not a superuser: no replication role);
  * SELECT, INSERT, UPDATE, DELETE on every other table, and use of every sequence;
  * ownership of the time-partitioned telemetry tables and their partitions, because the app
    manages those itself at run time (CREATE TABLE … PARTITION OF ahead of time, DROP of expired
    partitions, CREATE INDEX CONCURRENTLY per partition), and PostgreSQL lets only an owner do it;
  * CREATE on the schema, for those partitions.
The owner role must be a member of the runtime role (to hand tables over) and the runtime role
must not be a member of the owner role. Creating the two roles is the installation's job (the
embedded dev/test setup in config/devstack.py, docker-compose's init script, the DBA in
production: see the README); without DATABASE_RUNTIME_ROLE nothing here runs.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connections

AUDIT_TABLE = "audit_auditevent"


def runtime_role_grant(using: str = "default", **kwargs: Any) -> None:
    """post_migrate: bring the runtime role's rights to what is described above (idempotent)."""
    role = settings.DATABASE_RUNTIME_ROLE
    if not role:
        return
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        if cursor.fetchone()[0] == role:
            return  # migrating as the runtime role itself: nothing to hand over (single-role set-up)
        quoted = connection.ops.quote_name(role)
        cursor.execute(
            """
            SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema()
              AND (c.relkind = 'p' OR (c.relkind = 'r' AND c.relispartition))  -- tables, not indexes
              AND pg_get_userbyid(c.relowner) <> %s
            """,
            [role],
        )
        tables = [table for (table,) in cursor.fetchall()]
        # First: a new owner needs CREATE on the schema.
        cursor.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {quoted}")
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} OWNER TO {quoted}")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}")
        cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
        cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {AUDIT_TABLE} FROM {quoted}")
