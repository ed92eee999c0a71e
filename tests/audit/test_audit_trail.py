"""Each security-relevant action writes exactly one audit event naming who did what to what."""

import csv
import io

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.urls import reverse

from apps.audit.models import AuditEvent, AuditImmutableError
from apps.projects.models import ApiKey, Invitation, Membership, Project, Role
from tests.conftest import client_for, make_member


def org_url(name, org, *extra):
    return reverse(f"projects:{name}", args=[org.pk, *extra])


def do_project_create(c, t):
    c.post(org_url("project-new", t.organization), {"name": "Billing"})
    return "project.create", "Billing"


def do_project_rename(c, t):
    c.post(reverse("projects:project-rename", args=[t.project.pk]), {"name": "Storefront"})
    return "project.update", "Storefront"


def do_project_delete(c, t):
    c.post(reverse("projects:project-delete", args=[t.project.pk]), {"confirm": t.project.name})
    return "project.delete", t.project.name


def do_key_create(c, t):
    c.post(reverse("projects:key-new", args=[t.project.pk]), {"scope": "ingest", "name": "new one"})
    return "api_key.create", str(ApiKey.objects.get(name="new one"))


def do_key_revoke(c, t):
    key = ApiKey.objects.filter(project=t.project).first()
    c.post(reverse("projects:key-revoke", args=[t.project.pk, key.pk]))
    return "api_key.revoke", str(key)


def do_invite(c, t):
    c.post(org_url("invitation-new", t.organization), {"email": "new@acme.test", "role": "member"})
    return "invitation.create", "new@acme.test"


def do_invitation_revoke(c, t):
    c.post(org_url("invitation-new", t.organization), {"email": "new@acme.test", "role": "member"})
    invitation = Invitation.objects.get(email="new@acme.test")
    c.post(org_url("invitation-revoke", t.organization, invitation.pk))
    return "invitation.revoke", "new@acme.test"


def do_role_change(c, t):
    bob = make_member(t.organization, "bob@acme.test", Role.VIEWER)
    c.post(org_url("member-role", t.organization, Membership.objects.get(user=bob).pk), {"role": "admin"})
    return "membership.role_change", "bob@acme.test"


def do_member_remove(c, t):
    bob = make_member(t.organization, "bob@acme.test", Role.VIEWER)
    c.post(org_url("member-remove", t.organization, Membership.objects.get(user=bob).pk))
    return "membership.remove", "bob@acme.test"


def do_org_rename(c, t):
    c.post(org_url("organization-rename", t.organization), {"name": "Acme Inc"})
    return "organization.update", "Acme Inc"


def do_transfer(c, t):
    bob = make_member(t.organization, "bob@acme.test", Role.ADMIN)
    c.post(
        org_url("organization-transfer", t.organization), {"membership": Membership.objects.get(user=bob).pk}
    )
    return "organization.transfer_ownership", "bob@acme.test"


def do_org_delete(c, t):
    c.post(org_url("organization-delete", t.organization), {"confirm": t.organization.name})
    return "organization.delete", t.organization.name


ACTIONS = [
    do_project_create,
    do_project_rename,
    do_project_delete,
    do_key_create,
    do_key_revoke,
    do_invite,
    do_invitation_revoke,
    do_role_change,
    do_member_remove,
    do_org_rename,
    do_transfer,
    do_org_delete,
]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda f: f.__name__[3:])
def test_each_action_is_audited_exactly_once_with_actor_and_target(action, alice_client, org_a):
    before = set(AuditEvent.objects.values_list("id", flat=True))

    name, target = action(alice_client, org_a)

    new = AuditEvent.objects.exclude(id__in=before).filter(action=name)
    assert new.count() == 1, list(AuditEvent.objects.exclude(id__in=before).values_list("action", flat=True))
    event = new.get()
    assert event.actor_email == "alice@acme.test"
    assert event.organization_id == org_a.organization.pk
    assert event.target_repr == target
    assert event.ip == "127.0.0.1"
    assert event.request_id


def test_a_refused_action_writes_no_event(bob_client, org_a):
    bob_client.post(org_url("project-new", org_a.organization), {"name": "Sneaky"})

    assert not AuditEvent.objects.filter(action="project.create").exists()
    assert not Project.objects.filter(name="Sneaky").exists()


def test_events_cannot_be_changed_or_deleted_through_the_orm(org_a):
    event = AuditEvent.objects.filter(action="api_key.create").first()

    event.action = "nothing.happened"
    with pytest.raises(AuditImmutableError):
        event.save()
    with pytest.raises(AuditImmutableError):
        event.delete()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.all().delete()


def test_the_database_refuses_updates_and_deletes_that_bypass_the_orm(org_a):
    event = AuditEvent.objects.filter(action="api_key.create").first()

    for sql in (
        "UPDATE audit_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])

    assert AuditEvent.objects.get(pk=event.pk).action == "api_key.create"


def test_admins_filter_the_log_and_export_it_as_csv(alice_client, org_a):
    do_project_create(alice_client, org_a)
    do_invite(alice_client, org_a)

    page = alice_client.get(org_url("audit", org_a.organization), {"action": "project.create"})
    export = alice_client.get(org_url("audit-export", org_a.organization), {"action": "invitation.create"})

    assert page.status_code == 200
    body = page.content.decode()
    assert "project.create" in body and "new@acme.test" not in body
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["invitation.create"]
    assert rows[0]["actor"] == "alice@acme.test"


def test_the_log_shows_sign_ins_of_members_but_not_of_other_organizations(
    alice_client, mallory_client, org_a
):
    page = alice_client.get(org_url("audit", org_a.organization), {"action": "user.login"}).content.decode()

    assert "alice@acme.test" in page
    assert "mallory@bigcorp.test" not in page


def test_viewers_and_members_cannot_see_the_log(bob_client, org_a):
    assert bob_client.get(org_url("audit", org_a.organization)).status_code == 403
    assert bob_client.get(org_url("audit-export", org_a.organization)).status_code == 403


def test_csv_cells_that_look_like_formulas_are_neutralised(alice_client, org_a):
    alice_client.post(org_url("project-new", org_a.organization), {"name": '=HYPERLINK("http://x")'})

    export = b"".join(
        alice_client.get(org_url("audit-export", org_a.organization)).streaming_content
    ).decode()

    assert "'=HYPERLINK" in export


def test_no_exported_cell_begins_like_a_formula_whichever_field_carries_it(org_a):
    # The actor's email (a valid address) was written unescaped, and tab / CR were not covered.
    admin = make_member(org_a.organization, "=1+2@x.test", Role.ADMIN)
    client = client_for(admin)
    for name, user_agent in [
        ("-2+3", "=cmd|' /C calc'!A0"),
        ("@SUM(A1)", "\tcmd"),  # names are stripped of whitespace, user agents are not
        ("+cmd", "\r=cmd"),
    ]:
        response = client.post(
            org_url("project-new", org_a.organization), {"name": name}, HTTP_USER_AGENT=user_agent
        )
        assert response.status_code == 302

    export = b"".join(client.get(org_url("audit-export", org_a.organization)).streaming_content).decode()

    rows = list(csv.reader(io.StringIO(export, newline="")))
    cells = [cell for row in rows[1:] for cell in row]
    assert [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")] == []
    assert "'=1+2@x.test" in cells
    assert "'=cmd|' /C calc'!A0" in cells
    assert {"'-2+3", "'@SUM(A1)", "'+cmd", "'\tcmd", "'\r=cmd"} <= set(cells)
