"""Attachments, sessions and client reports from the real `sentry_sdk` against a real Vigil
server, and what members and viewers see of them on the Issues tab and the issue page."""

from __future__ import annotations

import sys
import uuid

import orjson
import pytest
import sentry_sdk
from sentry_sdk.sessions import track_session
from sentry_sdk.utils import event_from_exception

from apps.errors.dsn import dsn_of
from apps.errors.models import Attachment, Event, Issue, SessionCount
from tests.conftest import client_for
from tests.errors.conftest import wait_until
from tests.errors.test_envelopes import envelope, request
from tests.errors.test_sentry_sdk import events_grouped

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk(vigil_server, dsn_key):
    sentry_sdk.init(
        dsn=dsn_of(dsn_key, vigil_server.url),
        default_integrations=False,
        release="shop@3.1.0",
        environment="prod",
    )
    yield sentry_sdk
    sentry_sdk.get_client().close()
    sentry_sdk.init(dsn=None)


def fail(scope: sentry_sdk.Scope, handled: bool = True) -> None:
    try:
        1 / 0
    except ZeroDivisionError:
        event, hint = event_from_exception(
            sys.exc_info(),
            client_options=sentry_sdk.get_client().options,
            mechanism={"type": "test", "handled": handled},
        )
        scope.capture_event(event, hint=hint)


def test_an_attachment_is_kept_with_its_event_and_members_download_it(sdk, org_a, alice, bob):
    with sentry_sdk.new_scope() as scope:
        scope.add_attachment(bytes=b'{"items": 0}', filename="cart.json", content_type="application/json")
        fail(scope)
    sdk.flush(timeout=10)

    wait_until(lambda: events_grouped(org_a.project) == 1)
    event = Event.objects.get(project=org_a.project)
    attachment = Attachment.objects.get(project=org_a.project)
    assert (attachment.event_id, attachment.filename, attachment.size) == (event.event_id, "cart.json", 12)
    page = f"/projects/{org_a.project.pk}/issues/{event.issue_id}/"
    download = f"{page}attachments/{attachment.pk}/"
    html = client_for(alice).get(page).content.decode()
    assert "cart.json" in html and download in html
    response = client_for(alice).get(download)
    assert response.status_code == 200 and response.content == b'{"items": 0}'
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "application/octet-stream"  # never rendered by the browser
    viewer_html = client_for(bob).get(page).content.decode()
    assert "cart.json" in viewer_html and download not in viewer_html
    assert client_for(bob).get(download).status_code == 403


def test_an_attachment_over_the_cap_is_dropped_and_its_event_kept(dsn_key, settings):
    settings.SENTRY_ATTACHMENT_MAX_BYTES = 100
    event_id = uuid.uuid4().hex
    body = envelope(
        ({"type": "event"}, orjson.dumps({"event_id": event_id, "message": "with files"})),
        ({"type": "attachment", "length": 101, "filename": "big.log"}, b"x" * 101),
        ({"type": "attachment", "length": 100, "filename": "small.log"}, b"y" * 100),
        header={"event_id": event_id},
    )
    assert request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}").status == 200
    assert Event.objects.filter(event_id=event_id).exists()
    assert list(Attachment.objects.values_list("filename", flat=True)) == ["small.log"]


def test_an_attachment_of_another_issue_is_not_served_under_this_one(dsn_key, alice):
    for message in ("first", "second"):
        event_id = uuid.uuid4().hex
        body = envelope(
            ({"type": "event"}, orjson.dumps({"event_id": event_id, "message": message})),
            ({"type": "attachment", "filename": f"{message}.txt"}, message.encode()),
            header={"event_id": event_id},
        )
        assert request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}").status == 200
    first = Issue.objects.get(title="first")
    other = Attachment.objects.get(filename="second.txt")
    url = f"/projects/{dsn_key.project_id}/issues/{first.pk}/attachments/{other.pk}/"
    assert client_for(alice).get(url).status_code == 404


def test_sessions_are_counted_per_release_and_shown_as_crash_free_rate(sdk, org_a, alice):
    for outcome in ("ok", "ok", "errored", "crashed"):
        with sentry_sdk.isolation_scope() as scope, track_session(scope, session_mode="request"):
            if outcome != "ok":
                fail(scope, handled=outcome == "errored")
    sdk.flush(timeout=10)

    counts = SessionCount.objects.get(project=org_a.project, release="shop@3.1.0")
    assert (counts.environment, counts.total, counts.errored, counts.crashed) == ("prod", 4, 1, 1)
    html = client_for(alice).get(f"/projects/{org_a.project.pk}/issues/").content.decode()
    assert "shop@3.1.0" in html and "75.00 %" in html


def test_single_session_updates_are_counted_once(dsn_key):
    sid = uuid.uuid4().hex
    attrs = {"release": "app@1.0", "environment": "prod"}
    updates = [
        {"sid": sid, "init": True, "status": "ok", "started": "2026-12-06T10:00:00Z", "attrs": attrs},
        {"sid": sid, "status": "ok", "errors": 1, "started": "2026-12-06T10:00:00Z", "attrs": attrs},
        {"sid": sid, "status": "exited", "errors": 1, "started": "2026-12-06T10:00:00Z", "attrs": attrs},
        {
            "sid": uuid.uuid4().hex,
            "init": True,
            "status": "crashed",
            "started": "2026-12-06T11:00:00Z",
            "attrs": attrs,
        },
        {
            "sid": uuid.uuid4().hex,
            "init": True,
            "status": "exited",
            "attrs": {"environment": "prod"},
        },  # no release
    ]
    body = envelope(*(({"type": "session"}, orjson.dumps(u)) for u in updates))
    assert request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}").status == 200
    counts = SessionCount.objects.get()
    assert (str(counts.day), counts.total, counts.errored, counts.crashed) == ("2026-12-06", 2, 1, 1)


def test_client_reports_show_what_sdks_dropped_on_the_issues_tab(dsn_key, alice):
    report = {
        "discarded_events": [
            {"reason": "ratelimit_backoff", "category": "error", "quantity": 7},
            {"reason": "queue_overflow", "category": "transaction", "quantity": 3},
        ],
    }
    body = envelope(({"type": "client_report"}, orjson.dumps(report)))
    assert request(dsn_key.project_id, body, query=f"sentry_key={dsn_key.public_key}").status == 200
    html = client_for(alice).get(f"/projects/{dsn_key.project_id}/issues/").content.decode()
    section = html[html.index('data-testid="sdk-discards"') :]
    assert "ratelimit_backoff" in section and "<td>7</td>" in section and "queue_overflow" in section
    usage = client_for(alice).get(f"/orgs/{dsn_key.project.organization_id}/usage/").content.decode()
    section = usage[usage.index('data-testid="sdk-discards"') :]
    assert dsn_key.project.name in section and "ratelimit_backoff" in section and ">7</td>" in section
