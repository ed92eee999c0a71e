"""Issue life cycle through the API: list and filters, resolve (now, in a release, in the next
release) and regressions, ignore until a time or N events, merge and split, hourly counts; keys
read but never act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from django.db import connection

from apps.audit import Actor
from apps.errors import storage
from apps.errors.grouper import drain, is_older
from apps.errors.models import Event, GroupingHash, Issue, PendingEvent
from apps.errors.services import event_row, event_store
from apps.projects.services import project_delete
from tests.errors.conftest import exception_event, frame


def send(project_id: int, message: str = "queue full", release: str = "", user: str = "") -> None:
    event = {"message": message, "release": release, "user": {"id": user} if user else {}}
    event_store(project_id, event, datetime.now(UTC))


def issue_url(org, issue, action=""):
    return f"/api/v1/projects/{org.project.pk}/issues/{issue.pk}{action}"


def post(client, url, data=None):
    return client.post(url, data or {}, content_type="application/json")


def test_the_list_filters_by_status_and_title(alice_client, org_a):
    send(org_a.project.pk, "queue full")
    send(org_a.project.pk, "disk full")
    resolved = Issue.objects.get(title="disk full")
    post(alice_client, issue_url(org_a, resolved, "/resolve"))
    base = f"/api/v1/projects/{org_a.project.pk}/issues"

    unresolved = alice_client.get(base).json()
    everything = alice_client.get(base + "?status=all").json()
    searched = alice_client.get(base + "?status=all&query=DISK").json()
    bad = alice_client.get(base + "?status=sleeping")

    assert [i["title"] for i in unresolved] == ["queue full"]
    assert {i["title"] for i in everything} == {"queue full", "disk full"}
    assert [i["title"] for i in searched] == ["disk full"]
    assert bad.status_code == 400 and bad.json()["error"]["code"]


def test_the_list_is_most_recently_seen_first_within_a_minute_and_across_minutes(alice_client, org_a):
    """The list's index holds last_seen's minute (errors_issue_recent); its order is last_seen's."""
    seen = {
        "a": datetime(2026, 5, 1, 12, 0, 59, 900_000, tzinfo=UTC),
        "b": datetime(2026, 5, 1, 12, 0, 0, 100_000, tzinfo=UTC),
        "c": datetime(2026, 5, 1, 12, 1, 0, 0, tzinfo=UTC),
        "d": datetime(2026, 5, 1, 12, 0, 30, tzinfo=UTC),
        "e": datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC),
    }
    for title in seen:
        send(org_a.project.pk, title)
    for title, when in seen.items():
        Issue.objects.filter(title=title).update(last_seen=when)

    listed = alice_client.get(f"/api/v1/projects/{org_a.project.pk}/issues").json()

    assert [i["title"] for i in listed] == ["c", "a", "d", "b", "e"]
    minutes = dict(Issue.objects.values_list("title", "last_seen_minute"))
    assert (
        minutes["a"] == minutes["b"] == minutes["d"] == minutes["c"] - 1 == int(seen["b"].timestamp()) // 60
    )


def test_users_affected_counts_each_user_once(org_a):
    for user in ("u1", "u2", "u1", ""):
        send(org_a.project.pk, user=user)

    issue = Issue.objects.get()
    assert (issue.event_count, issue.users_affected) == (4, 2)


def test_resolved_now_regresses_on_any_new_event(alice_client, org_a):
    send(org_a.project.pk, release="1.0")
    issue = Issue.objects.get()
    post(alice_client, issue_url(org_a, issue, "/resolve"))

    send(org_a.project.pk, release="0.9")

    issue.refresh_from_db()
    assert (issue.status, issue.substatus) == ("unresolved", "regressed")


def test_resolved_in_next_release_ignores_the_current_and_older_releases(alice_client, org_a):
    send(org_a.project.pk, release="shop@2.9.0")
    send(org_a.project.pk, release="shop@2.10.0")
    issue = Issue.objects.get()
    answer = post(alice_client, issue_url(org_a, issue, "/resolve"), {"in_next_release": True}).json()

    send(org_a.project.pk, release="shop@2.10.0")
    send(org_a.project.pk, release="shop@2.9.0")
    issue.refresh_from_db()
    still = issue.status
    send(org_a.project.pk, release="shop@2.11.0")
    issue.refresh_from_db()

    assert answer["resolved_in_release"] == "shop@2.10.0"
    assert still == "resolved"
    assert (issue.status, issue.substatus, issue.event_count) == ("unresolved", "regressed", 5)


def test_resolving_in_next_release_without_releases_is_a_409(alice_client, org_a):
    send(org_a.project.pk)
    issue = Issue.objects.get()

    response = post(alice_client, issue_url(org_a, issue, "/resolve"), {"in_next_release": True})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


def test_release_order_uses_version_numbers_then_first_seen_order():
    assert is_older("app@1.9.0", "app@1.10.0", [])
    assert not is_older("app@1.10.0", "app@1.10.0", [])
    assert is_older("blue", "green", ["blue", "green"])
    assert not is_older("purple", "green", ["blue", "green"])  # never seen: a new release


def test_ignored_until_n_events_comes_back_on_the_nth(alice_client, org_a):
    send(org_a.project.pk)
    issue = Issue.objects.get()
    post(alice_client, issue_url(org_a, issue, "/ignore"), {"until_count": 3})

    send(org_a.project.pk)
    send(org_a.project.pk)
    issue.refresh_from_db()
    quiet = issue.status
    send(org_a.project.pk)
    issue.refresh_from_db()

    assert quiet == "ignored"
    assert (issue.status, issue.substatus) == ("unresolved", "ongoing")


def test_ignored_until_n_events_in_a_window_comes_back_only_when_they_are_that_close(alice_client, org_a):
    start = datetime.now(UTC)
    send(org_a.project.pk)
    issue = Issue.objects.get()
    window = {"until_count": 3, "window_seconds": 3600}
    answer = post(alice_client, issue_url(org_a, issue, "/ignore"), window)
    assert answer.json()["ignore_window_seconds"] == 3600

    for minutes in (0, 50, 120):  # never three within an hour
        with time_machine.travel(start + timedelta(minutes=minutes)):
            send(org_a.project.pk)
    issue.refresh_from_db()
    quiet = issue.status
    with time_machine.travel(start + timedelta(minutes=150)):
        send(org_a.project.pk)  # with 120 and 150, still only two in the last hour
    issue.refresh_from_db()
    still_quiet = issue.status
    with time_machine.travel(start + timedelta(minutes=170)):
        send(org_a.project.pk)  # 120, 150, 170: three within an hour
    issue.refresh_from_db()

    assert (quiet, still_quiet) == ("ignored", "ignored")
    assert (issue.status, issue.substatus) == ("unresolved", "ongoing")
    assert issue.unignored_at is not None


def test_a_window_without_a_count_or_out_of_range_is_a_400(alice_client, org_a):
    send(org_a.project.pk)
    issue = Issue.objects.get()
    url = issue_url(org_a, issue, "/ignore")

    alone = post(alice_client, url, {"window_seconds": 3600})
    tiny = post(alice_client, url, {"until_count": 3, "window_seconds": 5})

    assert alone.status_code == 400 and "window_seconds" in alone.json()["error"]["details"]
    assert tiny.status_code == 400 and "window_seconds" in tiny.json()["error"]["details"]
    issue.refresh_from_db()
    assert issue.status == "unresolved"


def test_ignored_until_a_time_comes_back_on_the_first_event_after_it(alice_client, org_a):
    send(org_a.project.pk)
    issue = Issue.objects.get()
    until = datetime.now(UTC) + timedelta(hours=1)
    post(alice_client, issue_url(org_a, issue, "/ignore"), {"until": until.isoformat()})

    send(org_a.project.pk)
    issue.refresh_from_db()
    quiet = issue.status
    with time_machine.travel(until + timedelta(minutes=1)):
        send(org_a.project.pk)
    issue.refresh_from_db()

    assert quiet == "ignored"
    assert issue.status == "unresolved"


def test_unresolve_brings_back_an_ignored_issue(alice_client, org_a):
    send(org_a.project.pk)
    issue = Issue.objects.get()
    post(alice_client, issue_url(org_a, issue, "/ignore"))

    answer = post(alice_client, issue_url(org_a, issue, "/unresolve")).json()

    assert (answer["status"], answer["substatus"]) == ("unresolved", "ongoing")


def test_merged_issues_keep_their_events_and_future_events_follow(alice_client, org_a, org_b):
    stack = [frame("shop.api", "pay", "charge(card)")]
    event_store(org_a.project.pk, exception_event("CardError", "declined", stack), datetime.now(UTC))
    send(org_a.project.pk, "payment failed", user="u1")
    send(org_b.project.pk, "not yours")
    target = Issue.objects.get(title="CardError: declined")
    other = Issue.objects.get(title="payment failed")
    foreign = Issue.objects.get(title="not yours")

    answer = post(alice_client, issue_url(org_a, target, "/merge"), {"issue_ids": [other.pk, foreign.pk]})
    send(org_a.project.pk, "payment failed")  # stored with `other` (the map is not told): counted in target

    assert answer.status_code == 200
    assert answer.json()["event_count"] == 2
    assert not Issue.objects.filter(pk=other.pk).exists()
    assert Issue.objects.filter(pk=foreign.pk).exists()  # another project's issue is never touched
    target.refresh_from_db()
    assert (target.event_count, target.users_affected) == (3, 1)
    assert Event.objects.filter(issue=target).count() == 3
    assert GroupingHash.objects.filter(issue=target).count() == 2


def test_an_issue_shows_its_events_newest_first_with_paging(alice_client, org_a):
    for _ in range(3):
        send(org_a.project.pk)
    issue = Issue.objects.get()

    first = alice_client.get(issue_url(org_a, issue, "/events?limit=2")).json()
    rest = alice_client.get(issue_url(org_a, issue, f"/events?limit=2&before={first[-1]['id']}")).json()

    assert len(first) == 2 and len(rest) == 1
    assert first[0]["id"] > first[1]["id"] > rest[0]["id"]


def test_read_keys_read_issues_but_cannot_act(client, org_a):
    send(org_a.project.pk)
    issue = Issue.objects.get()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {org_a.read_key}"}

    read = client.get(issue_url(org_a, issue), **auth)
    act = client.post(issue_url(org_a, issue, "/resolve"), {}, content_type="application/json", **auth)

    assert read.status_code == 200 and read.json()["title"] == "queue full"
    assert act.status_code == 403
    issue.refresh_from_db()
    assert issue.status == "unresolved"


def card_error(project_id: int, user: str = "") -> None:
    stack = [frame("shop.api", "pay", "charge(card)")]
    event = exception_event("CardError", "declined", stack, user={"id": user})
    event_store(project_id, event, datetime.now(UTC))


def test_a_merged_issue_is_split_back_by_grouping_hash_and_future_events_follow(alice_client, org_a):
    card_error(org_a.project.pk, user="u1")
    card_error(org_a.project.pk, user="u2")
    send(org_a.project.pk, "payment failed", user="u1")
    send(org_a.project.pk, "payment failed", user="u3")
    send(org_a.project.pk, "payment failed", release="shop@2.0")
    target = Issue.objects.get(title="CardError: declined")
    other = Issue.objects.get(title="payment failed")
    merged = post(alice_client, issue_url(org_a, target, "/merge"), {"issue_ids": [other.pk]})
    assert merged.status_code == 200

    hashes = alice_client.get(issue_url(org_a, target, "/hashes")).json()
    assert [h["events"] for h in hashes] == [3, 2]  # newest first: the messages came last
    assert hashes[1]["basis"] == ["CardError", "shop.api pay charge(card)"]
    answer = post(alice_client, issue_url(org_a, target, "/split"), {"hashes": [hashes[0]["hash"]]})
    send(org_a.project.pk, "payment failed", user="u4")

    assert answer.status_code == 201, answer.content
    split = Issue.objects.get(pk=answer.json()["id"])
    target.refresh_from_db()
    assert split.title == "payment failed"
    assert (split.event_count, split.users_affected, split.releases) == (4, 3, ["shop@2.0"])
    assert (target.event_count, target.users_affected) == (2, 2)  # u1 is still among its users
    assert Event.objects.filter(issue=split).count() == 4
    assert [h["events"] for h in alice_client.get(issue_url(org_a, target, "/hashes")).json()] == [2]


def test_a_split_that_would_empty_the_issue_or_names_no_hash_of_it_is_refused(alice_client, org_a):
    card_error(org_a.project.pk)
    send(org_a.project.pk, "payment failed")
    issue = Issue.objects.get(title="CardError: declined")
    own = alice_client.get(issue_url(org_a, issue, "/hashes")).json()[0]["hash"]
    elsewhere = Event.objects.get(title="payment failed").hashes[0]

    whole = post(alice_client, issue_url(org_a, issue, "/split"), {"hashes": [own]})
    foreign = post(alice_client, issue_url(org_a, issue, "/split"), {"hashes": [elsewhere]})
    malformed = post(alice_client, issue_url(org_a, issue, "/split"), {"hashes": "not a list"})

    assert whole.status_code == 409 and "none would be left" in whole.json()["error"]["message"]
    assert foreign.status_code == 409 and "None of these hashes" in foreign.json()["error"]["message"]
    assert malformed.status_code == 400 and "hashes" in malformed.json()["error"]["details"]
    assert Issue.objects.filter(project=org_a.project).count() == 2
    assert Event.objects.filter(issue=issue).count() == 1


def test_the_list_shows_each_issues_events_per_hour_and_merges_ticked_issues(alice_client, org_a):
    now = datetime.now(UTC)
    with time_machine.travel(now - timedelta(hours=5), tick=False):
        card_error(org_a.project.pk)
    with time_machine.travel(now - timedelta(hours=30), tick=False):
        send(org_a.project.pk, "payment failed")  # older than the 24 h shown
    send(org_a.project.pk, "payment failed")
    send(org_a.project.pk, "payment failed")
    card = Issue.objects.get(title="CardError: declined")
    payment = Issue.objects.get(title="payment failed")
    base = f"/projects/{org_a.project.pk}/issues/"

    page = alice_client.get(base).content.decode()
    merged = alice_client.post(f"{base}merge/", {"issue": [card.pk, payment.pk]})
    after = alice_client.get(base).content.decode()

    assert page.count('data-testid="issue-spark"') == 2
    assert 'data-events="1"' in page and 'data-events="2"' in page
    assert merged.status_code == 302 and merged.url == f"{base}{payment.pk}/"  # the one with most events
    assert not Issue.objects.filter(pk=card.pk).exists()
    assert 'data-events="3"' in after  # the hours moved with the events
    payment.refresh_from_db()
    assert payment.event_count == 4


def test_the_list_keeps_the_issues_of_one_trace(alice_client, org_a):
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    context = {"trace": {"trace_id": trace, "span_id": "00f067aa0ba902b7"}}
    in_trace = {"message": "timeout", "contexts": context}
    event_store(org_a.project.pk, in_trace, datetime.now(UTC))
    send(org_a.project.pk, "unrelated")
    url = f"/api/v1/projects/{org_a.project.pk}/issues"

    found = alice_client.get(url, {"trace_id": trace.upper(), "status": "all"})
    malformed = alice_client.get(url, {"trace_id": "nope"})

    assert [issue["title"] for issue in found.json()] == ["timeout"]
    assert malformed.status_code == 400 and "trace_id" in malformed.json()["error"]["details"]


def _stored(project_id: int, message: str) -> int:
    """An event stored as the endpoint stores it, not yet counted; returns its id."""
    row = event_row(project_id, {"message": message}, datetime.now(UTC))
    storage.events_write([row])
    return Event.objects.get(event_id=row.event_id).pk


def _ctid(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT ctid::text FROM errors_event WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_an_event_of_a_known_issue_is_stored_with_it_and_its_row_never_rewritten(org_a):
    send(org_a.project.pk, "queue full")  # the issue exists, and this process has seen its hash
    known = _stored(org_a.project.pk, "queue full")
    new = _stored(org_a.project.pk, "disk full")
    stored = {pk: (Event.objects.get(pk=pk).issue_id, _ctid(pk)) for pk in (known, new)}

    drain(org_a.project.pk)

    issue = Issue.objects.get(title="queue full")
    assert stored[known][0] == issue.pk and stored[new][0] is None
    assert _ctid(known) == stored[known][1]  # counted from its pending row: the event is untouched
    assert _ctid(new) != stored[new][1]  # a new hash's event gets its issue once it exists
    assert Event.objects.get(pk=new).issue == Issue.objects.get(title="disk full")
    assert issue.event_count == 2 and not PendingEvent.objects.exists()


def test_a_split_counts_the_events_stored_before_it_first(alice_client, org_a):
    card_error(org_a.project.pk)
    send(org_a.project.pk, "payment failed")
    target = Issue.objects.get(title="CardError: declined")
    other = Issue.objects.get(title="payment failed")
    post(alice_client, issue_url(org_a, target, "/merge"), {"issue_ids": [other.pk]})
    # Stored with the merged-away issue (this process's map is not told) …
    late = [_stored(org_a.project.pk, "payment failed") for _ in range(2)]
    assert set(Event.objects.filter(pk__in=late).values_list("issue_id", flat=True)) == {other.pk}
    assert PendingEvent.objects.count() == 2

    hashes = alice_client.get(issue_url(org_a, target, "/hashes")).json()
    answer = post(alice_client, issue_url(org_a, target, "/split"), {"hashes": [hashes[0]["hash"]]})

    # … and counted before the split, into the merged issue, then moved with the hash.
    assert answer.status_code == 201, answer.content
    split = Issue.objects.get(pk=answer.json()["id"])
    target.refresh_from_db()
    assert (split.event_count, target.event_count) == (3, 1)
    assert Event.objects.filter(issue=split).count() == 3 and not PendingEvent.objects.exists()


def test_a_deleted_project_takes_its_stored_and_pending_events_with_it(org_a, org_b):
    send(org_a.project.pk, "queue full")
    _stored(org_a.project.pk, "queue full")  # stored, not counted yet
    kept = _stored(org_b.project.pk, "queue full")

    project_delete(org_a.project, by=Actor(user=org_a.owner))

    assert not Event.objects.filter(project_id=org_a.project.pk).exists()
    assert not PendingEvent.objects.filter(project_id=org_a.project.pk).exists()
    assert list(PendingEvent.objects.values_list("event", flat=True)) == [kept]  # another's stays
