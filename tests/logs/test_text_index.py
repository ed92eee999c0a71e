"""Trigram indexes are built on sealed partitions only, and searches answer the same with them."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client

from apps.logs.textindex import SLICE, build_text_indexes, index_name, slice_index_name
from tests.logs.conftest import ingest, logs_url, read

pytestmark = pytest.mark.usefixtures("committed_logs_cleanup")


def partition(day: datetime) -> str:
    return f"logs_event_p{day:%Y%m%d}_unspecified"  # the records have no level


def indexed(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
            " WHERE c.relname = %s",
            [name],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


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
    ingest(
        org_a.ingest_key,
        [
            {"timestamp": two_days_ago.isoformat(), "message": "Disk quota exceeded on /var"},
            {"timestamp": (now - timedelta(minutes=1)).isoformat(), "message": "disk QUOTA warning"},
            {"timestamp": (now - timedelta(minutes=2)).isoformat(), "message": "all good"},
        ],
    )
    before = {q: search(org_a, q) for q in ("quota", '"quota exceeded"', "-quota", "di")}

    built = build_text_indexes(now=now, max_builds=100)
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
    assert build_text_indexes(now=now, max_builds=100) == []  # idempotent: nothing left to build
