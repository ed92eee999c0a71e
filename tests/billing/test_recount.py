"""The nightly recount: accepted records as metered equal the rows stored, exactly, per project,
signal and day — backfilled records included — and a row deleted by hand shows up for staff."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from apps.billing import recount
from apps.billing.models import UsageRecount
from apps.billing.tasks import flush_usage, recount_usage
from tests.telemetry import ingest_logs, ingest_metrics, post_json

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
DEC_9, DEC_10 = date(2026, 12, 9), date(2026, 12, 10)


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def spans(n: int, moment: datetime) -> dict:
    nanos = int(moment.timestamp() * 1e9)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
                                "spanId": f"{i + 1:016x}",
                                "name": "GET /",
                                "startTimeUnixNano": str(nanos),
                                "endTimeUnixNano": str(nanos + 1_000_000),
                            }
                            for i in range(n)
                        ]
                    }
                ],
            }
        ]
    }


def counts(day: date) -> dict:
    return {(c.project_id, c.signal): (c.metered, c.stored) for c in recount.recount_day(day)}


def test_accepted_equals_stored_exactly_and_a_deleted_row_shows_up_for_staff(
    org_a, org_b, alice, alice_client
):
    a, b = org_a.project.pk, org_b.project.pk
    with time_machine.travel(NOW, tick=False):
        ingest_logs(
            org_a.ingest_key,
            [{"message": f"m{i}", "timestamp": at(NOW - timedelta(minutes=i))} for i in range(30)],
        )
        # A backfill: stored under the day of its records, metered on the day it arrived.
        backfill = [
            {"message": f"old{i}", "timestamp": at(NOW - timedelta(days=1, hours=i))} for i in range(5)
        ]
        ingest_logs(org_a.ingest_key, backfill)
        ingest_metrics(
            org_a.ingest_key,
            [
                {"name": "cpu", "type": "gauge", "value": i, "timestamp": at(NOW - timedelta(seconds=i))}
                for i in range(12)
            ],
        )
        assert (
            post_json("/v1/traces", spans(7, NOW - timedelta(minutes=1)), org_a.ingest_key).status_code == 200
        )
        ingest_logs(org_b.ingest_key, [{"message": "b"}] * 4)
        flush_usage()
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        assert recount_usage() == 0
        assert counts(DEC_10) == {
            (a, "logs"): (30, 30),
            (a, "metrics"): (12, 12),
            (a, "traces"): (7, 7),
            (b, "logs"): (4, 4),
        }
        assert counts(DEC_9) == {(a, "logs"): (5, 5)}
        assert not UsageRecount.objects.exists()

        with connection.cursor() as cursor:  # an acknowledged row lost behind billing's back
            cursor.execute(
                "DELETE FROM logs_event WHERE (tableoid, ctid) = (SELECT tableoid, ctid FROM logs_event"
                " WHERE project_id = %s AND ts >= %s LIMIT 1)",
                [a, NOW.replace(hour=0)],
            )
        assert recount_usage() == 1
        difference = UsageRecount.objects.get()
        assert (difference.project_id, difference.signal, difference.day) == (a, "logs", DEC_10)
        assert (difference.metered, difference.stored, difference.difference) == (30, 29, -1)
        assert recount_usage() == 1 and UsageRecount.objects.count() == 1  # a re-run replaces, never adds

        alice.is_staff = alice.is_superuser = True
        alice.save(update_fields=["is_staff", "is_superuser"])
        page = alice_client.get(reverse("admin:billing_usagerecount_changelist")).content.decode()
        assert "2026" in page and ">29<" in page and ">-1<" in page
