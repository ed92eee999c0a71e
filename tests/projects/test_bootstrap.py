import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.projects.authentication import authenticate_key
from apps.projects.models import Organization, Project


def bootstrap(password="a-long-bootstrap-passphrase"):
    out = StringIO()
    call_command(
        "bootstrap",
        "--email",
        "ops@example.test",
        "--password",
        password,
        "--org",
        "Ops",
        "--project",
        "infra",
        "--json",
        stdout=out,
    )
    return json.loads(out.getvalue())


def test_bootstrap_prints_ids_and_working_keys(db):
    result = bootstrap()

    assert set(result) == {"user", "org_id", "project_id", "ingest_key", "read_key", "dsn"}
    assert authenticate_key(result["ingest_key"]).scope == "ingest"
    assert authenticate_key(result["read_key"]).project_id == result["project_id"]


def test_bootstrap_is_idempotent(db):
    first = bootstrap()
    second = bootstrap()

    assert (first["org_id"], first["project_id"]) == (second["org_id"], second["project_id"])
    assert Organization.objects.count() == 1 and Project.objects.count() == 1


def test_bootstrap_refuses_a_weak_password_or_a_wrong_one_for_an_existing_user(db):
    with pytest.raises(CommandError, match="too short"):
        bootstrap(password="short")
    bootstrap()
    with pytest.raises(CommandError, match="does not match"):
        bootstrap(password="another-long-passphrase")
