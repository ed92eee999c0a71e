"""`manage.py demo`, the fill behind the "Fill with demo data" button and the beat trickle: rows
land in every telemetry table through ingestion, the read APIs see them (counts and rollups of the
backfill included), a second run does not duplicate, and the trickle keeps adding."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from apps.dashboards import demo
from apps.dashboards.models import DemoFeed
from apps.logs import counts
from apps.metrics import rollups
from apps.projects.models import Project

pytestmark = pytest.mark.django_db


def scalar(sql: str, params: list | None = None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def table_counts(project_id: int) -> dict[str, int]:
    return {
        table: scalar(f"SELECT count(*) FROM {table} WHERE project_id = %s", [project_id])
        for table in ("logs_event", "traces_span", "metrics_point")
    }


def test_the_command_fills_the_demo_project_of_an_organization_with_logs_spans_and_metrics(org_a):
    out = StringIO()

    call_command("demo", "--org", str(org_a.organization.pk), "--hours", "0.5", stdout=out)

    project = Project.objects.get(organization=org_a.organization, name="Demo")
    rows = table_counts(project.pk)
    assert rows["logs_event"] > 500 and rows["traces_span"] > 500 and rows["metrics_point"] > 100
    assert f"/projects/{project.pk}/" in out.getvalue()
    assert f"{rows['logs_event']:,} logs" in out.getvalue()
    assert DemoFeed.objects.filter(project=project, filled_until__isnull=False).exists()


def test_demo_data_looks_like_real_services(org_a):
    demo.fill(org_a.project, hours=0.5)
    project_id = org_a.project.pk

    services = scalar(
        "SELECT array_agg(DISTINCT service) FROM logs_event WHERE project_id = %s", [project_id]
    )
    levels = scalar("SELECT array_agg(DISTINCT level) FROM logs_event WHERE project_id = %s", [project_id])
    metric_names = scalar(
        "SELECT array_agg(DISTINCT name) FROM metrics_series WHERE project_id = %s", [project_id]
    )
    # Logs carry the trace ids of stored spans, and spans nest (children point at stored parents).
    linked = scalar(
        "SELECT count(*) FROM logs_event l WHERE l.project_id = %s AND EXISTS"
        " (SELECT 1 FROM traces_span s WHERE s.project_id = l.project_id AND s.trace_id = l.trace_id)",
        [project_id],
    )
    nested = scalar(
        "SELECT count(*) FROM traces_span c JOIN traces_span p ON p.project_id = c.project_id"
        " AND p.trace_id = c.trace_id AND p.span_id = c.parent_span_id WHERE c.project_id = %s",
        [project_id],
    )
    assert {"frontend", "checkout", "payments", "worker"} <= set(services)
    assert {5, 9, 13, 17} <= set(levels)  # debug, info, warn, error
    assert {"http.server.request.duration", "process.memory.usage", "orders.placed"} <= set(metric_names)
    assert linked > 100 and nested > 100


def test_a_second_fill_only_adds_what_is_missing(org_a):
    now = timezone.now()
    demo.fill(org_a.project, hours=0.5, now=now)
    first = table_counts(org_a.project.pk)

    again = demo.fill(org_a.project, hours=0.5, now=now)
    later = demo.fill(org_a.project, hours=0.5, now=now + timedelta(seconds=20))

    assert again.total == 0
    assert table_counts(org_a.project.pk)["logs_event"] == first["logs_event"] + later.logs
    assert later.logs < first["logs_event"] / 20


def test_the_backfill_is_counted_for_stats_and_rolled_up_for_charts_behind_the_watermarks(
    org_a, alice_client
):
    now = timezone.now()
    # Beat has been running: both watermarks are at "now", far past the backfilled minutes.
    counts.count_logs(now=now)
    rollups.rollup_run(now=now)

    demo.fill(org_a.project, hours=1, now=now)

    stored = scalar(
        "SELECT count(*) FROM logs_event WHERE project_id = %s AND ts >= %s AND ts < %s",
        [org_a.project.pk, now - timedelta(minutes=50), now - timedelta(minutes=10)],
    )
    stats = alice_client.get(
        f"/api/v1/projects/{org_a.project.pk}/logs/stats",
        {
            "start": (now - timedelta(minutes=50)).isoformat(),
            "end": (now - timedelta(minutes=10)).isoformat(),
        },
    ).json()
    chart = alice_client.get(
        f"/api/v1/projects/{org_a.project.pk}/metrics/query",
        {"name": "orders.placed", "agg": "sum", "start": "-55m", "end": "-15m", "step": "5m"},
    ).json()
    assert stats["source"] in ("counts", "counts+scan") and stats["total"] == stored
    assert chart["resolution"] == "1m" and sum(v for _, v in chart["series"][0]["points"]) > 0


def test_the_trickle_continues_where_the_fill_stopped_and_never_writes_a_range_twice(org_a):
    now = timezone.now()
    demo.fill(org_a.project, hours=0.2, now=now)
    before = table_counts(org_a.project.pk)

    written = demo.trickle(now=now + timedelta(seconds=30))
    again = demo.trickle(now=now + timedelta(seconds=30))

    after = table_counts(org_a.project.pk)
    assert written[org_a.project.pk] > 0 and again == {}
    assert sum(after.values()) - sum(before.values()) == written[org_a.project.pk]
    assert DemoFeed.objects.get(project=org_a.project).filled_until == now + timedelta(seconds=30)


def test_the_trickle_stops_for_a_project_nobody_looked_at_for_a_day(org_a, org_b):
    now = timezone.now()
    demo.fill(org_a.project, hours=0.1, now=now)
    demo.fill(org_b.project, hours=0.1, now=now)
    demo.seen(org_b.project, now=now + timedelta(hours=23))

    written = demo.trickle(now=now + timedelta(hours=24, seconds=5))

    assert list(written) == [org_b.project.pk]
    assert not DemoFeed.objects.filter(project=org_a.project).exists()


def test_stop_clears_the_flag_and_keeps_the_data(org_a):
    demo.fill(org_a.project, hours=0.1)
    rows = table_counts(org_a.project.pk)

    call_command("demo", "--project", str(org_a.project.pk), "--stop", stdout=StringIO())

    assert not DemoFeed.objects.filter(project=org_a.project).exists()
    assert demo.trickle() == {}
    assert table_counts(org_a.project.pk) == rows


def test_the_command_refuses_an_unknown_project_and_a_silly_history():
    with pytest.raises(CommandError, match="No project #999999"):
        call_command("demo", "--project", "999999", stdout=StringIO())
    with pytest.raises(CommandError, match="--hours"):
        call_command("demo", "--hours", "0", stdout=StringIO())


def test_an_unknown_project_is_answered_with_the_projects_that_exist(org_a, org_b):
    with pytest.raises(CommandError) as refused:
        call_command("demo", "--project", "999999", stdout=StringIO())

    message = str(refused.value)
    for cast in (org_a, org_b):
        assert f"#{cast.project.pk} {cast.project.name} ({cast.organization.name})" in message


def test_an_unknown_project_on_an_empty_installation_says_how_to_make_one():
    with pytest.raises(CommandError, match=r"no projects yet: run `manage\.py bootstrap`"):
        call_command("demo", "--project", "1", stdout=StringIO())


def test_the_command_links_to_the_server_that_is_running(org_a, settings):
    settings.VIGIL_URL = "http://127.0.0.1:18123"
    out = StringIO()

    call_command("demo", "--project", str(org_a.project.pk), "--hours", "0.1", stdout=out)

    assert f"Open http://127.0.0.1:18123/projects/{org_a.project.pk}/" in out.getvalue()
    assert ":8000" not in out.getvalue()


def test_without_a_known_server_the_command_gives_the_path_and_no_guessed_address(org_a, settings):
    settings.VIGIL_URL = ""
    out = StringIO()

    call_command("demo", "--project", str(org_a.project.pk), "--hours", "0.1", stdout=out)

    assert f"Open /projects/{org_a.project.pk}/ on your Vigil server." in out.getvalue()
    assert "http://" not in out.getvalue()
