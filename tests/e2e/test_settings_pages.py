"""The foundation's settings pages in the dashboards' look, and what a viewer is (not) offered there:
controls for actions a role may not take are not shown (the server refuses them anyway: see
tests/test_role_matrix.py)."""

import pytest

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def forms_posting_to(page, fragment: str) -> int:
    return page.locator(f"form[action*='{fragment}']").count()


def test_a_viewer_sees_keys_and_members_but_no_control_to_change_them(page_as, org_a, bob):
    page = page_as(bob)

    page.goto(f"/projects/{org_a.project.pk}/settings/")
    assert page.locator("[data-testid=key-table] tbody tr").count() >= 1  # the keys are listed
    assert page.locator("[data-testid=create-key]").count() == 0
    for action in ("/keys/new/", "/revoke/", "/rename/", "/delete/"):
        assert forms_posting_to(page, action) == 0, action
    screenshot(page, "settings-keys-viewer")

    page.goto(f"/orgs/{org_a.organization.pk}/members/")
    assert page.locator("[data-testid=member-table]").is_visible()
    for action in ("/role/", "/invitations/new/"):
        assert forms_posting_to(page, action) == 0, action
    # The only removal a viewer may do is leaving: one "Leave" form, on their own row.
    assert page.locator("form[action*='/remove/'] button").all_inner_texts() == ["Leave"]
    assert page.locator("nav.mainnav").get_by_text("Audit log").count() == 0


def test_an_owner_gets_every_control_and_the_pages_share_the_dashboards_look(page_as, org_a, alice, bob):
    page = page_as(alice)

    page.goto(f"/projects/{org_a.project.pk}/settings/")
    assert page.locator("[data-testid=create-key]").is_visible()
    assert page.locator("nav.projectnav a[aria-current=page]").inner_text() == "Settings"
    screenshot(page, "settings-keys")

    page.goto(f"/orgs/{org_a.organization.pk}/members/")
    assert forms_posting_to(page, "/invitations/new/") == 1
    assert forms_posting_to(page, "/role/") >= 1  # bob's role can be changed
    screenshot(page, "settings-members")

    page.goto(f"/orgs/{org_a.organization.pk}/audit/")
    assert page.locator("[data-testid=audit-table]").is_visible()
    screenshot(page, "settings-audit-log")
