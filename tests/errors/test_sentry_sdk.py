"""The real `sentry_sdk` Python client against a real Vigil server (uvicorn, test database):
what an application sees after changing nothing but its DSN."""

from __future__ import annotations

import gzip

import httpx
import orjson
import pytest
import sentry_sdk
from sentry_sdk import logger as sentry_logger

from apps.errors.dsn import dsn_of
from apps.errors.models import Event, Issue
from tests.conftest import client_for
from tests.errors.conftest import wait_until
from tests.ingestion.conftest import logs_of, spans_of

pytestmark = pytest.mark.django_db(transaction=True)


def events_grouped(project) -> int:
    """Events of the project in issues: the server groups them within a second of its answer."""
    return sum(Issue.objects.filter(project=project).values_list("event_count", flat=True))


def checkout(cart: dict[str, int]) -> float:
    return cart["total"] / cart["items"]


def add_to_cart(sku: str) -> int:
    return {"apple": 1}[sku]


@pytest.fixture(params=["gzip", "br"])
def sdk(request, vigil_server, dsn_key):
    """The SDK as an application would set it up; `br` is what it picks when brotli is
    installed, gzip what it uses without it."""
    sentry_sdk.init(
        dsn=dsn_of(dsn_key, vigil_server.url),
        default_integrations=False,
        auto_enabling_integrations=False,
        release="shop@1.4.0",
        environment="staging",
        traces_sample_rate=1.0,
        enable_logs=True,
        _experiments={"transport_compression_algo": request.param},
    )
    yield sentry_sdk
    sentry_sdk.flush(timeout=10)
    sentry_sdk.get_client().close()
    sentry_sdk.init(dsn=None)


def test_the_same_bug_twice_is_one_issue_and_a_different_bug_a_second(sdk, org_a, alice):
    for _ in range(2):
        try:
            checkout({"total": 10, "items": 0})
        except ZeroDivisionError:
            sdk.capture_exception()
    try:
        add_to_cart("pear")
    except KeyError:
        sdk.capture_exception()
    assert sdk.flush(timeout=10) is None
    wait_until(lambda: events_grouped(org_a.project) == 3)

    issues = {i.title: i for i in Issue.objects.filter(project=org_a.project)}
    assert set(issues) == {"ZeroDivisionError: division by zero", "KeyError: 'pear'"}
    division = issues["ZeroDivisionError: division by zero"]
    assert division.event_count == 2
    assert (division.releases, division.environments) == (["shop@1.4.0"], ["staging"])
    assert any("checkout" in component for component in division.grouping_basis)
    api = client_for(alice).get(f"/api/v1/projects/{org_a.project.pk}/issues").json()
    assert sorted(i["event_count"] for i in api) == [1, 2]
    events = client_for(alice).get(f"/api/v1/projects/{org_a.project.pk}/issues/{division.pk}/events").json()
    assert len(events) == 2
    assert events[0]["data"]["exception"]["values"][-1]["type"] == "ZeroDivisionError"


def test_capture_message_with_the_trace_of_the_span_it_happened_in(sdk, org_a):
    with sdk.start_transaction(name="POST /checkout"):
        sdk.set_user({"id": "u-17"})
        trace_id = sdk.get_traceparent().split("-")[0]
        sdk.capture_message("Payment provider slow", level="warning")
    sdk.flush(timeout=10)
    wait_until(lambda: events_grouped(org_a.project) == 1)

    issue = Issue.objects.get(project=org_a.project)
    event = Event.objects.get(issue=issue)
    assert (issue.title, issue.level, issue.users_affected) == ("Payment provider slow", "warning", 1)
    assert event.trace_id == trace_id


def test_a_transaction_becomes_spans_and_a_log_a_log_record_of_its_trace(sdk, org_a):
    with sdk.start_transaction(op="http.server", name="POST /checkout") as transaction:
        with sdk.start_span(op="db", name="SELECT cart"):
            sentry_logger.info("cart loaded for {user}", user="u-17")
    sdk.flush(timeout=10)

    spans = spans_of(org_a.project.pk)
    assert sorted(s["name"] for s in spans) == ["POST /checkout", "SELECT cart"]
    assert {s["trace_id"] for s in spans} == {transaction.trace_id}
    assert {s["service"] for s in spans} == {"shop"}
    root = next(s for s in spans if s["name"] == "POST /checkout")
    child = next(s for s in spans if s["name"] == "SELECT cart")
    assert child["parent_span_id"] == root["span_id"]
    logs = logs_of(org_a.project.pk)
    assert [(log["message"], log["trace_id"]) for log in logs] == [
        ("cart loaded for u-17", transaction.trace_id)
    ]


def test_a_resolved_issue_regresses_on_a_newer_release_only(sdk, org_a, alice, vigil_server, dsn_key):
    sent = [0]

    def fail() -> None:
        try:
            checkout({"total": 1, "items": 0})
        except ZeroDivisionError:
            sentry_sdk.capture_exception()
        sentry_sdk.flush(timeout=10)
        sent[0] += 1
        wait_until(lambda: events_grouped(org_a.project) == sent[0])

    fail()
    issue = Issue.objects.get(project=org_a.project)
    url = f"/api/v1/projects/{org_a.project.pk}/issues/{issue.pk}"
    client_for(alice).post(f"{url}/resolve", {"in_release": "shop@1.5.0"}, content_type="application/json")
    fail()  # the old release still running somewhere: not a regression
    assert Issue.objects.get(pk=issue.pk).status == "resolved"

    sentry_sdk.get_client().close()
    sentry_sdk.init(dsn=dsn_of(dsn_key, vigil_server.url), default_integrations=False, release="shop@1.5.0")
    fail()

    issue.refresh_from_db()
    assert (issue.status, issue.substatus, issue.event_count) == ("unresolved", "regressed", 3)


def test_a_chunked_gzipped_envelope_without_content_length_is_read(vigil_server, dsn_key, org_a):
    event = {"message": "chunked " + "x" * 40_000}
    body = gzip.compress(b"{}\n" + orjson.dumps({"type": "event"}) + b"\n" + orjson.dumps(event) + b"\n")

    def chunks():
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = httpx.post(
        f"{vigil_server.url}/api/{org_a.project.pk}/envelope/?sentry_key={dsn_key.public_key}",
        content=chunks(),
        headers={"content-encoding": "gzip", "content-type": "application/x-sentry-envelope"},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    assert "content-length" not in response.request.headers
    issue = wait_until(lambda: Issue.objects.filter(project=org_a.project).first())
    assert issue.title.startswith("chunked xxx")


def test_a_bad_key_over_http_is_a_403_with_cors(vigil_server, org_a):
    response = httpx.post(
        f"{vigil_server.url}/api/{org_a.project.pk}/envelope/?sentry_key={'0' * 32}",
        content=b"{}\n",
        timeout=30,
    )

    assert response.status_code == 403
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json()["error"]["code"]
