"""The audit log is tamper-evident: each organization's events are hash-chained, and
`manage.py audit verify` finds the first event that was changed, removed or inserted."""

from __future__ import annotations

import threading
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from apps import audit
from apps.audit.chain import GENESIS
from apps.audit.models import AuditEvent


def verify(*args: str) -> str:
    out = StringIO()
    call_command("audit", "verify", *args, stdout=out, stderr=out)
    return out.getvalue()


def broken(*args: str) -> str:
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("audit", "verify", *args, stdout=out, stderr=out)
    assert failure.value.returncode == 1
    return out.getvalue()


def record_some(tenant, count: int = 3) -> list[AuditEvent]:
    return [
        audit.record(
            f"test.event{n}", organization=tenant.organization, target=tenant.project, extra={"n": n}
        )
        for n in range(count)
    ]


def as_owner(sql: str, params: list) -> None:
    """What the app's runtime role cannot do (test_database_roles.py), but the owner of the table or
    a superuser can: step past the append-only trigger."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def test_each_event_links_to_the_previous_one_of_its_organization(org_a, org_b):
    first_a = AuditEvent.objects.filter(organization_id=org_a.organization.pk).order_by("id").first()
    events = record_some(org_a)
    record_some(org_b)

    assert first_a.prev_hash == GENESIS
    chain = list(AuditEvent.objects.filter(organization_id=org_a.organization.pk).order_by("id"))
    assert [e.prev_hash for e in chain[1:]] == [e.event_hash for e in chain[:-1]]
    assert chain[-1].pk == events[-1].pk
    assert "audit log intact" in verify()
    assert "audit log intact" in verify("--org", str(org_a.organization.pk))


def test_a_row_edited_past_the_trigger_is_found(org_a, org_b):
    events = record_some(org_a)
    record_some(org_b)

    as_owner("UPDATE audit_auditevent SET actor_email = 'nobody@x.test' WHERE id = %s", [events[1].pk])

    report = broken()
    assert f"organization {org_a.organization.pk}: event #{events[1].pk} was changed" in report
    assert "audit log intact" in verify("--org", str(org_b.organization.pk))


def test_a_row_removed_past_the_trigger_breaks_the_next_link(org_a):
    events = record_some(org_a)

    as_owner("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])

    assert f"event #{events[2].pk} does not follow the event before it" in broken(
        "--org", str(org_a.organization.pk)
    )


def test_a_rewritten_hash_does_not_hide_the_change(org_a):
    events = record_some(org_a)

    as_owner(
        "UPDATE audit_auditevent SET action = 'nothing', event_hash = repeat('a', 64) WHERE id = %s",
        [events[0].pk],
    )

    assert f"event #{events[0].pk} was changed" in broken()


@pytest.mark.django_db(transaction=True)
def test_two_events_recorded_at_once_for_one_organization_still_chain(org_a):
    """The first writer holds its transaction open; the second must wait for it, not link to the
    same predecessor (a fork that verification would report)."""
    second_done = threading.Event()

    def second_writer() -> None:
        try:
            audit.record("test.second", organization=org_a.organization)
        finally:
            second_done.set()
            connections.close_all()

    with transaction.atomic():
        audit.record("test.first", organization=org_a.organization)
        writer = threading.Thread(target=second_writer)
        writer.start()
        deadline = time.monotonic() + 30
        while not second_done.is_set() and not waiting_for_audit_lock():
            assert time.monotonic() < deadline, "the second writer neither finished nor waited"
            time.sleep(0.05)
    writer.join(timeout=30)

    assert "audit log intact" in verify("--org", str(org_a.organization.pk))
    assert list(
        AuditEvent.objects.filter(organization_id=org_a.organization.pk).values_list("action", flat=True)
    )[:2] == ["test.second", "test.first"]


def waiting_for_audit_lock() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0] > 0
