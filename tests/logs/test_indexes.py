"""Indexes built in the background: trigram (slices and sealed days) and trace B-trees (sealed days);
searches answer the same with them, and the partitions being written carry neither."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test import Client

from apps.logs.indexes import (
    SLICE,
    build_indexes,
    index_name,
    index_state,
    slice_index_name,
    summarize_trace_blooms,
    trace_bloom_days,
    trace_index_name,
)
from apps.logs.selectors import TRACE_LOOKUP_SETTINGS, trace_logs_sql
from tests.logs.conftest import at, logs_url, read
from tests.telemetry import ingest_logs

pytestmark = pytest.mark.usefixtures("committed_logs_cleanup")


def partition(day: datetime) -> str:
    return f"logs_event_p{day:%Y%m%d}_unspecified"  # the records have no level


def indexed(name: str) -> bool:
    return index_state(name) == "valid"


def search(org, q: str) -> list[str]:
    response = read(Client(), logs_url(org.project.pk), org.read_key, q=q, start="-3d")
    assert response.status_code == 200
    return [record["message"] for record in response.json()["records"]]


@pytest.fixture
def drop_built_indexes():
    built: list[str] = []
    yield built
    with connection.cursor() as cursor:
        for name in built:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


def test_sealed_days_and_finished_slices_of_today_get_trigram_indexes_and_results_do_not_change(
    org_a, drop_built_indexes
):
    now = datetime.now(UTC)
    two_days_ago = now - timedelta(days=2)
    ingest_logs(
        org_a.ingest_key,
        [
            {"timestamp": two_days_ago.isoformat(), "message": "Disk quota exceeded on /var"},
            {"timestamp": (now - timedelta(minutes=1)).isoformat(), "message": "disk QUOTA warning"},
            {"timestamp": (now - timedelta(minutes=2)).isoformat(), "message": "all good"},
        ],
    )
    before = {q: search(org_a, q) for q in ("quota", '"quota exceeded"', "-quota", "di")}

    # Everything pending: late in the UTC day, today's hourly slices of every leaf and the days other
    # tests left behind add up to more than a hundred indexes.
    built = build_indexes(now=now, max_builds=10_000)
    drop_built_indexes.extend(built)

    sealed, today = partition(two_days_ago), partition(now)
    assert index_name(sealed) in built and indexed(index_name(sealed))
    assert not indexed(index_name(today))  # the partition being written has no full index
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    current_slice = midnight + ((now - midnight) // SLICE) * SLICE
    assert not indexed(slice_index_name(today, current_slice))
    finished = [slice_index_name(today, midnight + SLICE * n) for n in range((now - midnight) // SLICE)]
    assert all(indexed(name) or now - current_slice < timedelta(minutes=10) for name in finished[:-1])
    assert {q: search(org_a, q) for q in before} == before
    assert before["quota"] == ["disk QUOTA warning", "Disk quota exceeded on /var"]
    assert build_indexes(now=now, max_builds=10_000) == []  # idempotent: nothing left to build


def index_definitions(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return [row[0] for row in cursor.fetchall()]


def plan(project_id: int, trace_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a few test rows: a scan would win on cost alone
        cursor.execute(
            "EXPLAIN SELECT message FROM logs_event WHERE project_id = %s AND trace_id = %s",
            [project_id, trace_id],
        )
        lines = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    return lines


def test_trace_lookups_use_a_bloom_index_while_a_day_is_written_and_a_btree_once_it_is_sealed(
    org_a, org_b, drop_built_indexes
):
    now = datetime.now(UTC)
    two_days_ago = now - timedelta(days=2)
    old_trace, new_trace = "ab" * 16, "cd" * 16
    # Enough rows today for a second bloom page range (32 heap pages): the first range of a
    # partition is summarised when the index is made, later ones only by summarize_trace_blooms.
    filler = [
        {"timestamp": at(5 + n / 1000, now), "message": f"filler {n} " + "x" * 400, "trace_id": f"{n:032x}"}
        for n in range(1, 1001)
    ]
    ingest_logs(
        org_a.ingest_key,
        [
            {"timestamp": two_days_ago.isoformat(), "message": "old", "trace_id": old_trace},
            {"timestamp": at(1, now), "message": "new", "trace_id": new_trace},
            {"timestamp": at(2, now), "message": "untraced"},
            *filler,
        ],
    )
    ingest_logs(
        org_b.ingest_key, [{"timestamp": now.isoformat(), "message": "theirs", "trace_id": new_trace}]
    )
    queries = (f"trace_id:{old_trace}", f"trace_id:{new_trace}", f"trace_id:{500:032x}")
    before = {q: search(org_a, q) for q in queries}
    assert before == {queries[0]: ["old"], queries[1]: ["new"], queries[2]: [filler[499]["message"]]}

    today, sealed = partition(now), partition(two_days_ago)
    # What ingestion writes into carries no B-tree on trace ids (migration 0004), only the bloom.
    assert not any("trace_id" in d and "btree" in d for d in index_definitions(today))
    assert any("text_bloom_ops" in d for d in index_definitions(today))
    assert summarize_trace_blooms(now=now) >= 1
    assert summarize_trace_blooms(now=now) == 0  # nothing new since
    assert {q: search(org_a, q) for q in queries} == before

    # Everything pending: late in the UTC day, today's hourly slices of every leaf and the days other
    # tests left behind add up to more than a hundred indexes.
    built = build_indexes(now=now, max_builds=10_000)
    drop_built_indexes.extend(built)
    assert trace_index_name(sealed) in built and indexed(trace_index_name(sealed))
    assert not indexed(trace_index_name(today))
    assert trace_index_name(sealed) in plan(org_a.project.pk, old_trace)
    assert {q: search(org_a, q) for q in queries} == before


def test_the_trace_view_finds_a_traces_logs_of_every_day_and_reads_the_open_day_through_its_bloom(
    org_a, org_b, drop_built_indexes
):
    now = datetime.now(UTC)
    two_days_ago = now - timedelta(days=2)
    trace = "ef" * 16
    ingest_logs(
        org_a.ingest_key,
        [
            {"timestamp": two_days_ago.isoformat(), "message": "old", "trace_id": trace},
            {"timestamp": now.isoformat(), "message": "new", "trace_id": trace},  # today even at 00:00
            *(
                {"timestamp": now.isoformat(), "message": f"other {n}", "trace_id": f"{n:032x}"}
                for n in range(1, 200)
            ),
        ],
    )
    ingest_logs(org_b.ingest_key, [{"timestamp": at(1, now), "message": "theirs", "trace_id": trace}])
    # Everything pending (late in the UTC day there are more than a hundred slices to build).
    drop_built_indexes.extend(build_indexes(now=now, max_builds=10_000))
    today, sealed = partition(now), partition(two_days_ago)
    assert indexed(trace_index_name(sealed)) and not indexed(trace_index_name(today))
    assert f"logs_event_p{now:%Y%m%d}" in [table for table, _ in trace_bloom_days()]

    response = Client().get(
        f"/api/v1/projects/{org_a.project.pk}/traces/{trace}", HTTP_AUTHORIZATION=f"Bearer {org_a.read_key}"
    )
    assert response.status_code == 200, response.content
    assert [log["message"] for log in response.json()["logs"]] == ["old", "new"]

    # The planner costs a bloom lookup as reading the whole day: it must have no other path.
    sql, params = trace_logs_sql(org_a.project.pk, trace, 1000, now)
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in TRACE_LOOKUP_SETTINGS:
            cursor.execute(setting)
        cursor.execute("EXPLAIN " + sql, params)
        lines = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Bitmap Index Scan on {today}_trace_id_idx" in lines, lines
    assert f"Index Scan using {trace_index_name(sealed)} on {sealed}" in lines, lines
    assert f"Seq Scan on {today}" not in lines, lines


def test_beat_runs_the_index_builds_and_the_bloom_summaries():
    from apps.logs import tasks
    from config.celery import app

    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert schedule[tasks.build_indexes.name] == 600.0
    assert schedule[tasks.summarize_trace_blooms.name] == 60.0
