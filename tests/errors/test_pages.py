"""The Issues tab: the list, and an issue page with its stack trace, why it was grouped, a link to
its trace, and actions for members only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apps.errors.models import Event, Issue
from apps.errors.services import event_store, issue_merge
from tests.errors.conftest import exception_event, frame

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def an_issue(project_id: int) -> Issue:
    view = {
        **frame("shop.views", "checkout", "total = cart.total()"),
        "pre_context": ["def checkout(request):"],
        "post_context": ["return render(total)"],
    }
    library = frame("django.core.handlers", "inner", "response = get_response(request)", in_app=False)
    event = exception_event(
        "ZeroDivisionError",
        "division by zero",
        [library, view],
        contexts={"trace": {"trace_id": TRACE_ID, "span_id": "00f067aa0ba902b7"}},
        breadcrumbs={"values": [{"category": "http", "message": "GET /cart", "level": "info"}]},
        tags={"region": "eu"},
        release="shop@1.0",
    )
    event_store(project_id, event, datetime.now(UTC))
    return Issue.objects.get(project_id=project_id)


def test_the_issues_tab_lists_unresolved_issues_with_counts(bob_client, org_a):
    issue = an_issue(org_a.project.pk)

    page = bob_client.get(f"/projects/{org_a.project.pk}/issues/").content.decode()
    resolved_only = bob_client.get(f"/projects/{org_a.project.pk}/issues/?status=resolved").content.decode()

    assert "ZeroDivisionError: division by zero" in page
    assert f"/projects/{org_a.project.pk}/issues/{issue.pk}/" in page
    assert "division by zero" not in resolved_only


def test_the_issue_page_shows_the_stack_the_grouping_and_the_trace(bob_client, org_a):
    issue = an_issue(org_a.project.pk)

    page = bob_client.get(f"/projects/{org_a.project.pk}/issues/{issue.pk}/").content.decode()

    assert "def checkout(request):" in page and "<strong>total = cart.total()</strong>" in page
    assert "shop.views checkout total = cart.total()" in page  # why grouped
    assert f"/projects/{org_a.project.pk}/traces/{TRACE_ID}/" in page
    assert "GET /cart" in page and "region=eu" in page
    assert 'data-testid="resolve"' not in page  # bob is a viewer


def test_a_member_resolves_and_unresolves_from_the_page(alice_client, org_a):
    issue = an_issue(org_a.project.pk)
    base = f"/projects/{org_a.project.pk}/issues/{issue.pk}"

    page = alice_client.post(f"{base}/resolve/", {"in_next_release": "1"}, follow=True).content.decode()
    issue.refresh_from_db()
    resolved = (issue.status, issue.resolved_in_release)
    alice_client.post(f"{base}/unresolve/")
    issue.refresh_from_db()

    assert 'data-testid="unresolve"' in page
    assert resolved == ("resolved", "shop@1.0")
    assert issue.status == "unresolved"


def test_a_member_ignores_from_the_page_for_a_while_or_until_a_burst(alice_client, org_a):
    issue = an_issue(org_a.project.pk)
    base = f"/projects/{org_a.project.pk}/issues/{issue.pk}"

    page = alice_client.get(f"{base}/").content.decode()
    alice_client.post(f"{base}/ignore/", {"for": "24h"})
    issue.refresh_from_db()
    for_a_day = (issue.status, issue.ignored_until - datetime.now(UTC))
    alice_client.post(f"{base}/unresolve/")
    alice_client.post(f"{base}/ignore/", {"for": "100/1h"})
    issue.refresh_from_db()

    assert "until 100 events within an hour" in page
    assert for_a_day[0] == "ignored" and timedelta(hours=23) < for_a_day[1] <= timedelta(hours=24)
    assert (issue.status, issue.ignore_until_count, issue.ignore_window_seconds) == ("ignored", 100, 3600)


def test_a_merged_issue_lists_its_grouping_hashes_and_members_may_split_them(alice_client, bob_client, org_a):
    issue = an_issue(org_a.project.pk)
    event_store(org_a.project.pk, {"message": "cart is empty"}, datetime.now(UTC))
    issue_merge(issue, [Issue.objects.get(title="cart is empty")])
    url = f"/projects/{org_a.project.pk}/issues/{issue.pk}/"

    member = alice_client.get(url).content.decode()
    viewer = bob_client.get(url).content.decode()

    assert 'data-testid="issue-hashes"' in member and member.count('name="hash"') == 2
    assert "shop.views checkout total = cart.total()" in member and "cart is empty" in member
    assert 'data-testid="issue-hashes"' in viewer and 'name="hash"' not in viewer


def test_the_issue_page_pages_through_its_events_and_never_shows_another_issues(alice_client, org_a):
    for n in range(3):
        event_store(org_a.project.pk, {"message": "queue full", "tags": {"n": str(n)}}, datetime.now(UTC))
    event_store(org_a.project.pk, {"message": "other bug", "tags": {"n": "other"}}, datetime.now(UTC))
    issue = Issue.objects.get(title="queue full")
    first, second, third = Event.objects.filter(issue=issue).order_by("pk")
    foreign = Event.objects.get(title="other bug")
    url = f"/projects/{org_a.project.pk}/issues/{issue.pk}/"

    newest = alice_client.get(url).content.decode()
    middle = alice_client.get(url, {"event": second.pk}).content.decode()
    oldest = alice_client.get(url, {"event": first.pk}).content.decode()
    elsewhere = alice_client.get(url, {"event": foreign.pk}).content.decode()

    assert "n=2" in newest and f'href="?event={second.pk}"' in newest
    assert 'data-testid="newer-event"' not in newest
    assert "n=1" in middle and f'href="?event={first.pk}"' in middle and f'href="?event={third.pk}"' in middle
    assert "n=0" in oldest and 'data-testid="older-event"' not in oldest
    assert "n=2" in elsewhere and "n=other" not in elsewhere
