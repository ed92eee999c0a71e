"""The app runs as a database role that cannot erase the audit log (apps/audit/roles.py).

`make test` (config/devstack.py) gives the embedded PostgreSQL the production split: the tests
connect as the owner role (it creates the test database and runs the migrations), and
DATABASE_RUNTIME_URL is the role the app runs as. These tests connect as that runtime role.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from apps.audit.models import AuditEvent
from apps.storage import partitions
from tests.conftest import PASSWORD, missing_tool
from tests.ingestion.server import Server
from tests.logs.conftest import at


def runtime_url() -> str:
    """The runtime role's URL, on the test database."""
    url = os.environ.get("DATABASE_RUNTIME_URL")
    if not url or not settings.DATABASE_RUNTIME_ROLE:
        missing_tool("DATABASE_RUNTIME_URL / DATABASE_RUNTIME_ROLE (set by config.devstack)")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(settings.DATABASES["default"]["NAME"])))


@pytest.fixture
def runtime(transactional_db):
    with psycopg.connect(runtime_url(), autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE audit_auditevent",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
        "SET session_replication_role = replica",
        "UPDATE audit_auditevent SET action = 'x'",
        "DELETE FROM audit_auditevent",
        "DROP TABLE audit_auditevent",
        "ALTER TABLE audit_auditevent ADD COLUMN note text",
        "DROP TRIGGER audit_event_append_only ON audit_auditevent",
    ],
)
def test_the_runtime_role_cannot_erase_or_unguard_the_audit_log(runtime, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        runtime.execute(statement)


def test_the_runtime_role_is_no_superuser_and_owns_no_audit_table(runtime):
    role, is_superuser = runtime.execute(
        "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    owner = runtime.execute(
        "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'audit_auditevent'"
    )

    assert (role, is_superuser) == (settings.DATABASE_RUNTIME_ROLE, False)
    assert owner.fetchone()[0] != role
    with connection.cursor() as cursor:  # the tests' own connection: the owner role
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] != role


def test_the_app_works_as_the_runtime_role(org_a, committed_cleanup):
    """Sign-in (audited), ingestion (new partitions) and search, served as the runtime role."""
    server = Server(extra_env={"DATABASE_URL": runtime_url()})
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            page = client.get("/login/")
            # The cookies are Secure (__Host-): a client on plain http sends them only by hand.
            token = page.cookies[settings.CSRF_COOKIE_NAME]
            # A failed sign-in: the server's password hashers differ from the tests' fast one, and
            # the failure is audited all the same.
            signed_in = client.post(
                "/login/",
                data={
                    "username": "alice@acme.test",
                    "password": "not-" + PASSWORD,
                    "csrfmiddlewaretoken": token,
                },
                headers={"Cookie": f"{settings.CSRF_COOKIE_NAME}={token}"},
            )
            ingested = client.post(
                "/api/v1/ingest/logs",
                json=[{"message": "as the runtime role", "timestamp": at(1)}],
                headers={"authorization": f"Bearer {org_a.ingest_key}"},
            )
            found = client.get(
                f"/api/v1/projects/{org_a.project.pk}/logs",
                params={"q": '"runtime role"'},
                headers={"authorization": f"Bearer {org_a.read_key}"},
            )
    finally:
        server.stop()

    assert "correct email and password" in signed_in.text
    assert AuditEvent.objects.filter(action="user.login_failed", target_id=str(org_a.owner.pk)).exists()
    assert ingested.status_code == 200, ingested.text
    assert [r["message"] for r in found.json()["records"]] == ["as the runtime role"]


@pytest.fixture
def committed_cleanup(transactional_db):
    yield
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM logs_event")


def test_partitions_made_by_the_owner_role_are_handed_to_the_runtime_role(runtime):
    """`manage.py demo` from a shell runs as the owner role and may create the day's partitions
    first; the app (the runtime role) must still maintain them — bloom summaries, index builds and
    retention DROPs need the owner. Before the fix the worker failed with "must be owner of index"."""
    from apps.logs import storage as logs

    day = (datetime.now(UTC) + timedelta(days=9)).date()
    name = partitions.partition_name(logs.TABLE, day)
    with connection.cursor() as cursor:  # the tests' own connection: the owner role
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
    partitions.forget_partitions()
    logs.ensure_partitions([day])

    leaves = runtime.execute(
        "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_partition_tree(%s::regclass) t"
        " JOIN pg_class c ON c.oid = t.relid",
        [name],
    ).fetchall()
    assert len(leaves) > 1
    assert {owner for _, owner in leaves} == {settings.DATABASE_RUNTIME_ROLE}
    bloom = runtime.execute(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass"
        " AND indexrelid::regclass::text LIKE '%%trace_id%%'",
        [f"{name}_unspecified"],
    ).fetchone()[0]
    runtime.execute("SELECT brin_summarize_new_values(%s::regclass)", [bloom])
    runtime.execute(f"DROP TABLE {name}")
    partitions.forget_partitions()
