"""JSON logs as the common loggers write them, produced by the real libraries and posted as they
are to the native endpoint: level, time, service, message, logger name, extras and tracebacks
read back (apps/ingestion/logshapes.py)."""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from pythonjsonlogger.json import JsonFormatter

from apps.ingestion.models import IngestionSettings
from tests.ingestion.conftest import logs_of
from tests.telemetry import post

URL = "/api/v1/ingest/logs"


def post_ndjson(body: str, key: str) -> dict:
    response = post(URL, body, key, content_type="application/x-ndjson")
    assert response.status_code == 200, response.content
    return response.json()


@contextmanager
def local_time_zone(name: str) -> Iterator[None]:
    """The process's local zone, as a server's TZ would set it (loggers write local times)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def python_json_logger_lines(records: int = 1) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(created)f", static_fields={"app": "shop"}
        )
    )
    logger = logging.getLogger("shop.checkout")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("card declined", extra={"order_id": 42, "customer": {"tier": "gold"}})
        try:
            raise ValueError("amount must be positive")
        except ValueError:
            logger.exception("charge failed")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def as_utc_millis(created: float) -> datetime:
    return datetime.fromtimestamp(int(created * 1000) / 1000, UTC)


def test_python_json_logger_lines_keep_level_time_logger_extras_and_traceback(org_a):
    body = python_json_logger_lines()
    sent = [json.loads(line) for line in body.splitlines()]

    answer = post_ndjson(body, org_a.ingest_key)

    assert (answer["accepted"], answer["rejected"]) == (2, 0)
    assert answer["warnings"] == [
        "2 timestamp(s) without a time zone were read in UTC (the project's log time zone)."
    ]
    declined, failed = sorted(logs_of(org_a.project.id), key=lambda row: row["message"])
    assert (declined["message"], declined["level"], declined["ts"]) == (
        "card declined",
        13,
        as_utc_millis(sent[0]["created"]),
    )
    assert declined["attributes"] == {
        "log.logger": "shop.checkout",
        "order_id": 42,
        "customer": {"tier": "gold"},
        "app": "shop",
        "created": sent[0]["created"],
    }
    assert (failed["message"], failed["level"]) == ("charge failed", 17)
    assert failed["attributes"]["exception.type"] == "ValueError"
    assert failed["attributes"]["exception.message"] == "amount must be positive"
    assert failed["attributes"]["exception.stacktrace"].startswith("Traceback (most recent call last)")
    assert 'raise ValueError("amount must be positive")' in failed["attributes"]["exception.stacktrace"]


def test_zoneless_times_are_read_in_the_projects_zone_and_the_answer_says_so(org_a):
    IngestionSettings.objects.create(project=org_a.project, log_time_zone="Asia/Kolkata")
    with local_time_zone("Asia/Kolkata"):  # the app's server writes its local time, +05:30
        body = python_json_logger_lines()
    sent = [json.loads(line) for line in body.splitlines()]

    answer = post_ndjson(body, org_a.ingest_key)

    assert answer["warnings"] == [
        "2 timestamp(s) without a time zone were read in Asia/Kolkata (the project's log time zone)."
    ]
    stored = sorted(logs_of(org_a.project.id), key=lambda row: row["message"])
    assert [row["ts"] for row in stored] == [
        as_utc_millis(sent[0]["created"]),
        as_utc_millis(sent[1]["created"]),
    ]


def test_a_time_zone_that_does_not_exist_is_refused_by_the_settings_form(org_a):
    from django.core.exceptions import ValidationError

    settings = IngestionSettings(project=org_a.project, log_time_zone="Mars/Olympus")
    with pytest.raises(ValidationError, match="Unknown time zone"):
        settings.full_clean()


def structlog_lines() -> str:
    stream = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(stream),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    ).bind(logger="shop.worker", service="billing")
    logger.info("invoice sent", invoice=7, amount=12.5)
    try:
        {}["missing"]
    except KeyError:
        logger.exception("lookup failed")
    return stream.getvalue()


def test_structlog_lines_keep_event_level_time_logger_and_exception(org_a):
    body = structlog_lines()
    sent = [json.loads(line) for line in body.splitlines()]

    answer = post_ndjson(body, org_a.ingest_key)

    assert (answer["accepted"], answer["warnings"]) == (2, [])
    sent_invoice = sent[0]
    invoice, lookup = sorted(logs_of(org_a.project.id), key=lambda row: row["message"])
    assert (invoice["message"], invoice["level"], invoice["service"]) == ("invoice sent", 9, "billing")
    assert invoice["ts"] == datetime.fromisoformat(sent_invoice["timestamp"])
    assert invoice["attributes"] == {"log.logger": "shop.worker", "invoice": 7, "amount": 12.5}
    assert (lookup["message"], lookup["level"]) == ("lookup failed", 17)
    assert lookup["attributes"]["exception.type"] == "KeyError"
    assert lookup["attributes"]["exception.message"] == "'missing'"
    assert lookup["attributes"]["exception.stacktrace"] == sent[1]["exception"]


def test_logstash_ecs_records_flat_and_nested(org_a):
    now = datetime.now(UTC).replace(microsecond=250000)
    records = [
        {
            "@timestamp": now.isoformat().replace("+00:00", "Z"),
            "log.level": "error",
            "message": "db timeout",
            "service.name": "orders",
            "ecs.version": "1.6.0",
            "error.type": "TimeoutError",
            "error.message": "30 s",
            "error.stack_trace": "TimeoutError: 30 s\n  at query (db.js:10)",
            "trace.id": "4bf92f3577b34da6a3ce929d0e0e4736",
        },
        {
            "@timestamp": (now - timedelta(seconds=1)).isoformat(),
            "log": {"level": "warn", "logger": "orders.db", "origin": {"file": {"line": 10}}},
            "message": "slow query",
            "service": {"name": "orders", "version": "2.1"},
            "host": {"name": "db-1"},
        },
    ]
    body = "\n".join(json.dumps(record) for record in records)

    answer = post_ndjson(body, org_a.ingest_key)

    assert (answer["accepted"], answer["rejected"], answer["warnings"]) == (2, 0, [])
    slow, timeout = logs_of(org_a.project.id)
    assert (timeout["ts"], timeout["level"], timeout["service"]) == (now, 17, "orders")
    assert timeout["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert timeout["attributes"] == {
        "ecs.version": "1.6.0",
        "exception.type": "TimeoutError",
        "exception.message": "30 s",
        "exception.stacktrace": "TimeoutError: 30 s\n  at query (db.js:10)",
    }
    assert (slow["level"], slow["service"], slow["message"]) == (13, "orders", "slow query")
    assert slow["attributes"] == {
        "log.logger": "orders.db",
        "log": {"origin": {"file": {"line": 10}}},
        "service": {"version": "2.1"},
        "host": {"name": "db-1"},
    }


def test_docker_json_file_lines_keep_stream_and_read_an_apps_json_inside(org_a):
    now = datetime.now(UTC).replace(microsecond=0)
    docker_time = now.strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    inner = json.dumps({"level": "error", "msg": "boom", "time": int(now.timestamp() * 1000) - 5000})
    body = "\n".join(
        [
            json.dumps({"log": "listening on :8080\n", "stream": "stdout", "time": docker_time}),
            json.dumps({"log": inner + "\n", "stream": "stderr", "time": docker_time}),
        ]
    )

    answer = post_ndjson(body, org_a.ingest_key)

    assert (answer["accepted"], answer["warnings"]) == (2, [])
    boom, listening = logs_of(org_a.project.id)
    assert (listening["message"], listening["ts"], listening["attributes"]) == (
        "listening on :8080",
        now + timedelta(microseconds=123456),
        {"stream": "stdout"},
    )
    assert (boom["message"], boom["level"], boom["ts"]) == ("boom", 17, now - timedelta(seconds=5))
    assert boom["attributes"] == {"stream": "stderr"}


def test_unknown_fields_are_kept_and_odd_values_never_lose_the_record(org_a):
    records = [
        {
            "msg": "odd",
            "level": "loud",
            "time": "yesterday-ish",
            "otelTraceID": "0",
            "weird": [1, {"a": None}],
        },
        {"message": "plain native", "level": "info", "extra_top_level": True},
    ]
    body = "\n".join(json.dumps(record) for record in records)

    answer = post_ndjson(body, org_a.ingest_key)

    assert (answer["accepted"], answer["rejected"]) == (2, 0)
    assert answer["warnings"] == [
        "1 timestamp(s) could not be read; those records are stored at their time of receipt and keep "
        "the original text as an attribute."
    ]
    stored = {row["message"]: row for row in logs_of(org_a.project.id)}
    assert stored["odd"]["level"] == 0 and stored["odd"]["trace_id"] is None
    assert stored["odd"]["attributes"] == {
        "log.level": "loud",
        "log.time": "yesterday-ish",
        "weird": [1, {"a": None}],
    }
    assert stored["plain native"]["attributes"] == {"extra_top_level": True}


def test_native_records_without_a_zone_are_read_in_the_projects_zone_too(org_a):
    IngestionSettings.objects.create(project=org_a.project, log_time_zone="America/New_York")
    noon_in_new_york = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    local = noon_in_new_york.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")).replace(
        tzinfo=None
    )

    answer = post_ndjson(json.dumps({"timestamp": local.isoformat(), "message": "m"}), org_a.ingest_key)

    assert answer["warnings"] == [
        "1 timestamp(s) without a time zone were read in America/New_York (the project's log time zone)."
    ]
    assert logs_of(org_a.project.id)[0]["ts"] == noon_in_new_york
