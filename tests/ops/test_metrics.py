from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import shared_task
from django.conf import settings as django_settings
from django.test import Client
from prometheus_client import REGISTRY

from apps.ops import metrics
from apps.ops.tasks import beat_heartbeat

TOKEN = "metrics-token-for-tests-0123456789"
HEARTBEAT = "apps.ops.tasks.beat_heartbeat"


class Flaky(Exception):
    pass


@shared_task(name="tests.ops.always_fails")
def always_fails() -> None:
    raise Flaky("as designed")


@pytest.fixture
def metrics_token(settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    response = Client().get("/metrics", **headers)
    return response.status_code, response.content.decode()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_is_disabled_with_a_json_404_when_no_token_is_configured(settings):
    settings.METRICS_TOKEN = ""

    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.usefixtures("metrics_token")
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN]
)
def test_metrics_refuses_a_missing_or_wrong_token_with_json_401(authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}

    response = Client().get("/metrics", **headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.usefixtures("metrics_token")
def test_metrics_counts_a_request_by_route_name_not_by_path():
    Client().get("/health")

    status, body = scrape()

    assert status == 200
    assert 'vigil_http_requests_total{method="GET",route="ops:health-live",status="200"}' in body
    assert 'vigil_http_request_duration_seconds_count{method="GET",route="ops:health-live"}' in body


@pytest.mark.usefixtures("metrics_token")
def test_unknown_paths_share_one_series_so_scanners_cannot_explode_cardinality():
    before = sample("vigil_http_requests_total", method="GET", route=metrics.UNMATCHED_ROUTE, status="404")

    for path in ("/no-such-page-1", "/no-such-page-2", "/wp-login.php"):
        Client().get(path)

    after = sample("vigil_http_requests_total", method="GET", route=metrics.UNMATCHED_ROUTE, status="404")
    assert after - before == 3
    assert "wp-login" not in scrape()[1]


@pytest.mark.usefixtures("metrics_token")
def test_a_task_run_in_process_shows_in_the_task_metrics():
    before = sample("vigil_celery_tasks_total", task=HEARTBEAT, outcome="success")
    durations_before = sample("vigil_celery_task_duration_seconds_count", task=HEARTBEAT)

    beat_heartbeat.apply()

    assert sample("vigil_celery_tasks_total", task=HEARTBEAT, outcome="success") - before == 1
    assert sample("vigil_celery_task_duration_seconds_count", task=HEARTBEAT) - durations_before == 1
    assert f'vigil_celery_tasks_total{{outcome="success",task="{HEARTBEAT}"}}' in scrape()[1]


def test_a_failing_task_is_counted_as_a_failure_with_its_exception_class():
    before = sample("vigil_celery_tasks_total", task="tests.ops.always_fails", outcome="failure")

    result = always_fails.apply()

    assert result.failed()
    assert sample("vigil_celery_tasks_total", task="tests.ops.always_fails", outcome="failure") - before == 1
    assert sample("vigil_celery_task_failures_total", task="tests.ops.always_fails", exception="Flaky") >= 1


@pytest.mark.usefixtures("metrics_token")
def test_multiprocess_mode_merges_the_samples_of_other_processes(tmp_path: Path, monkeypatch):
    # Another process (think: a second uvicorn worker) serves a request with the multiprocess directory set...
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "assert Client().get('/health', HTTP_HOST='localhost').status_code == 200\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, cwd=django_settings.BASE_DIR, timeout=60
    )
    assert list(tmp_path.glob("*.db")), "the other process wrote no samples"

    # ...and this process's /metrics reports it, from the files.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    status, body = scrape()

    assert status == 200
    assert 'vigil_http_requests_total{method="GET",route="ops:health-live",status="200"} 1.0' in body
