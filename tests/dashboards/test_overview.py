"""The organization home (figures per project) and the project overview (page, activity data,
demo button): members see them, other organizations get 404, only admins may fill a demo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.db import connection
from django.test import Client

from apps.audit.models import AuditEvent
from apps.dashboards import counts as event_counts
from apps.dashboards.models import DemoFeed
from apps.logs import counts
from apps.projects.models import Project
from config.celery import app as celery_app
from tests.conftest import make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_tasks():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def ingest(key: str, kind: str, records: list[dict]) -> None:
    response = Client().post(
        f"/api/v1/ingest/{kind}",
        data=orjson.dumps(records),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content


def minutes_ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def point(minutes: float) -> dict:
    return {"name": "queue.depth", "type": "gauge", "value": 3, "timestamp": minutes_ago(minutes)}


def ingest_spans(key: str, spans: list[tuple[float, bool]]) -> None:
    """OTLP/JSON spans (minutes ago, failed?): the endpoint real SDKs use."""
    records = []
    for index, (minutes, failed) in enumerate(spans):
        start = int((datetime.now(UTC) - timedelta(minutes=minutes)).timestamp() * 1e9)
        span = {
            "traceId": f"{index + 1:032x}",
            "spanId": f"{index + 1:016x}",
            "name": "GET /api/cart",
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 5_000_000),
        }
        if failed:
            span["status"] = {"code": 2, "message": "boom"}
        records.append(span)
    body = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": records}]}]}
    response = Client().post(
        "/v1/traces",
        data=orjson.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content


def count_rows(project_id: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT minute, spans, span_errors, points FROM dashboards_event_count_1m WHERE project_id = %s"
            " ORDER BY minute",
            [project_id],
        )
        return cursor.fetchall()


def overview_url(project: Project) -> str:
    return f"/projects/{project.pk}/"


# --- project overview page ---------------------------------------------------------------------


def test_every_member_sees_the_overview_and_another_organization_gets_404(
    alice_client, bob_client, mallory_client, org_a
):
    assert alice_client.get(overview_url(org_a.project)).status_code == 200
    assert bob_client.get(overview_url(org_a.project)).status_code == 200
    response = mallory_client.get(overview_url(org_a.project))
    assert response.status_code == 404
    assert "Acme" not in response.content.decode()


def test_an_empty_project_explains_how_to_send_and_offers_admins_demo_data(alice_client, bob_client, org_a):
    admin_page = alice_client.get(overview_url(org_a.project)).content.decode()
    viewer_page = bob_client.get(overview_url(org_a.project)).content.decode()

    for page in (admin_page, viewer_page):
        assert 'data-testid="welcome"' in page
        assert "OTEL_EXPORTER_OTLP_ENDPOINT=http://testserver" in page
        assert "/api/v1/ingest/logs" in page
    assert 'data-testid="demo-fill"' in admin_page
    assert 'data-testid="demo-fill"' not in viewer_page
    assert "Ask an admin" in viewer_page


def test_a_project_with_telemetry_shows_the_dashboard_and_names_its_latency_metric(alice_client, org_a):
    ingest(org_a.ingest_key, "logs", [{"message": "hello", "level": "info"}])
    buckets = {"bounds": [0.1, 1], "counts": [3, 1, 0]}
    ingest(
        org_a.ingest_key,
        "metrics",
        [{"name": "http.server.request.duration", "type": "histogram", "buckets": buckets}],
    )

    page = alice_client.get(overview_url(org_a.project)).content.decode()

    assert 'data-testid="welcome"' not in page
    assert 'data-latency-metric="http.server.request.duration"' in page
    assert 'data-latency-factor="1000"' in page


def test_the_older_latency_convention_is_used_in_milliseconds_when_it_is_the_only_one(alice_client, org_a):
    ingest(org_a.ingest_key, "metrics", [{"name": "http.server.duration", "type": "gauge", "value": 12.5}])

    page = alice_client.get(overview_url(org_a.project)).content.decode()

    assert 'data-latency-metric="http.server.duration"' in page
    assert 'data-latency-factor="1"' in page


# --- activity data of the charts ---------------------------------------------------------------


def test_activity_counts_logs_errors_spans_and_points_per_bucket(alice_client, org_a):
    ingest(
        org_a.ingest_key,
        "logs",
        [
            {"message": "ok", "level": "info", "timestamp": minutes_ago(5)},
            {"message": "ok", "level": "info", "timestamp": minutes_ago(5)},
            {"message": "boom", "level": "error", "timestamp": minutes_ago(5)},
            {"message": "old", "level": "fatal", "timestamp": minutes_ago(30)},
        ],
    )
    ingest(
        org_a.ingest_key,
        "metrics",
        [{"name": "queue.depth", "type": "gauge", "value": 3, "timestamp": minutes_ago(2)}],
    )

    data = alice_client.get(f"/projects/{org_a.project.pk}/activity/", {"start": "-1h"}).json()

    assert data["bucket_seconds"] == 60 and len(data["buckets"]) in (60, 61)
    assert data["totals"] == {"logs": 4, "log_errors": 2, "spans": 0, "span_errors": 0, "points": 1}
    busy = [bucket for bucket in data["buckets"] if bucket["logs"]]
    assert sorted((bucket["logs"], bucket["log_errors"]) for bucket in busy) == [(1, 1), (3, 1)]


def test_activity_is_the_same_whether_read_from_counts_or_from_raw_rows(alice_client, org_a):
    ingest_spans(org_a.ingest_key, [(50, False), (50, True), (30, False), (3, True)])
    ingest(org_a.ingest_key, "metrics", [point(minutes) for minutes in (55, 31, 30, 2)])
    url = f"/projects/{org_a.project.pk}/activity/"

    raw = alice_client.get(url, {"start": "-1h"}).json()  # no count run yet: everything from raw rows
    event_counts.count_events(now=datetime.now(UTC) - timedelta(minutes=20))  # a watermark mid-range
    mixed = alice_client.get(url, {"start": "-1h"}).json()
    event_counts.count_events()
    counted = alice_client.get(url, {"start": "-1h"}).json()

    expected = {"logs": 0, "log_errors": 0, "spans": 4, "span_errors": 2, "points": 4}
    assert raw["totals"] == mixed["totals"] == counted["totals"] == expected
    assert [b for b in raw["buckets"] if b["spans"] or b["points"]] == [
        b for b in counted["buckets"] if b["spans"] or b["points"]
    ]


def test_activity_over_a_month_counts_spans_and_points_per_hour(alice_client, org_a):
    ingest_spans(org_a.ingest_key, [(60 * 24 * 3, True)])
    ingest(org_a.ingest_key, "metrics", [point(60 * 24 * 6)])
    event_counts.count_events()

    data = alice_client.get(f"/projects/{org_a.project.pk}/activity/", {"start": "-30d"}).json()

    assert data["bucket_seconds"] == 3 * 3600
    assert data["totals"] == {"logs": 0, "log_errors": 0, "spans": 1, "span_errors": 1, "points": 1}


def test_event_counts_are_replaced_not_added_when_a_run_repeats_and_expire_with_retention(org_a):
    ingest_spans(org_a.ingest_key, [(5, True), (5, False)])
    now = datetime.now(UTC)
    event_counts.count_events(now=now)
    first = count_rows(org_a.project.pk)
    with connection.cursor() as cursor:  # a run that stopped before moving the watermark
        cursor.execute(
            "UPDATE dashboards_event_count_watermark SET counted_until = %s", [now - timedelta(hours=1)]
        )
        cursor.execute(
            "INSERT INTO dashboards_event_count_1m VALUES (%s, %s, 9, 9, 9)",
            [org_a.project.pk, now - timedelta(days=60)],
        )
    event_counts.count_events(now=now)

    assert first == count_rows(org_a.project.pk)
    assert [(spans, errors) for _, spans, errors, _ in first] == [(2, 1)]


def test_activity_refuses_a_bad_range_with_the_error_shape_and_hides_other_tenants(
    alice_client, mallory_client, org_a
):
    bad = alice_client.get(f"/projects/{org_a.project.pk}/activity/", {"start": "yesterday"})
    hidden = mallory_client.get(f"/projects/{org_a.project.pk}/activity/", {"start": "yesterday"})

    assert bad.status_code == 400 and bad.json()["error"]["details"] == {"parameter": "start"}
    assert hidden.status_code == 404


# --- demo button --------------------------------------------------------------------------------


def test_a_viewer_cannot_fill_a_project_with_demo_data(bob_client, mallory_client, org_a):
    assert bob_client.post(f"/projects/{org_a.project.pk}/demo/").status_code == 403
    assert mallory_client.post(f"/projects/{org_a.project.pk}/demo/").status_code == 404
    assert not DemoFeed.objects.exists()


def test_an_admin_fills_the_project_through_a_task_after_commit_and_it_is_audited(
    alice_client, org_a, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = alice_client.post(f"/projects/{org_a.project.pk}/demo/")

    assert response.status_code == 302 and response["Location"] == overview_url(org_a.project)
    assert len(callbacks) == 1
    feed = DemoFeed.objects.get(project=org_a.project)
    assert feed.filled_until is not None
    page = alice_client.get(overview_url(org_a.project)).content.decode()
    assert 'data-testid="welcome"' not in page and "demo data" in page
    event = AuditEvent.objects.get(action="project.demo_fill")
    assert event.target_id == str(org_a.project.pk) and event.actor_email == "alice@acme.test"


def test_until_the_worker_fills_it_the_overview_says_demo_data_is_coming(alice_client, org_a):
    alice_client.post(f"/projects/{org_a.project.pk}/demo/")  # no on-commit run: the task is pending

    page = alice_client.get(overview_url(org_a.project)).content.decode()

    assert 'id="demo-pending"' in page


# --- organization home --------------------------------------------------------------------------


def test_the_organization_home_shows_rate_and_error_ratio_of_each_project(alice_client, org_a):
    Project.objects.create(organization=org_a.organization, name="quiet")
    ingest(
        org_a.ingest_key,
        "logs",
        [
            {"message": f"m{i}", "level": "error" if i < 3 else "info", "timestamp": minutes_ago(3)}
            for i in range(12)
        ],
    )
    counts.count_logs()  # as beat does every minute: the home reads the per-minute counts

    page = alice_client.get(f"/orgs/{org_a.organization.pk}/").content.decode()

    web_card = page[page.index(org_a.project.name) : page.index("quiet")]
    assert ">0.01<" in web_card  # 12 events / 900 s
    assert "25 %" in web_card  # 3 errors of 12 logs
    assert "no alert policies" in web_card
    quiet_card = page[page.index("quiet") :]
    assert "No telemetry yet" in quiet_card


def test_the_organization_home_costs_the_same_queries_for_3_or_12_projects(
    alice_client, org_a, django_assert_max_num_queries
):
    for number in range(2):
        Project.objects.create(organization=org_a.organization, name=f"p{number}")
    with django_assert_max_num_queries(100) as few:
        alice_client.get(f"/orgs/{org_a.organization.pk}/")
    for number in range(2, 11):
        Project.objects.create(organization=org_a.organization, name=f"p{number}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = alice_client.get(f"/orgs/{org_a.organization.pk}/").content.decode()

    assert page.count('data-testid="project-card"') == 12


def test_the_organization_home_shows_no_project_of_another_organization(mallory_client, org_a, org_b):
    make_tenant("Other", "olga@other.test")

    page = mallory_client.get(f"/orgs/{org_b.organization.pk}/").content.decode()

    assert page.count('data-testid="project-card"') == 1 and "Acme" not in page


def test_spans_and_points_arriving_hours_late_are_counted_on_the_next_run(org_a):
    ingest_spans(org_a.ingest_key, [(2, False)])
    event_counts.count_events()
    ingest_spans(org_a.ingest_key, [(180, True)])  # an exporter that was offline for hours
    ingest(org_a.ingest_key, "metrics", [point(150), point(150)])

    event_counts.count_events()

    rows = count_rows(org_a.project.pk)
    assert sum(spans for _, spans, _, _ in rows) == 2 and sum(errors for _, _, errors, _ in rows) == 1
    assert sum(points for *_, points in rows) == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM dashboards_event_count_stale")
        assert cursor.fetchone()[0] == 0  # claimed by the run that recounted them
