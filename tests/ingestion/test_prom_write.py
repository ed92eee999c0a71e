"""Prometheus remote-write 1.0 at POST /api/v1/prom/write: hand-made WriteRequests for every
answer code, then a real Prometheus (Debian's package) scraping a real node_exporter and
remote-writing to a real Vigil server."""

from __future__ import annotations

import base64
import math
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta

import cramjam
import httpx
import pytest
from django.test import Client

from apps.ingestion.promwrite import COUNTER, HISTOGRAM, MESSAGES
from tests.conftest import missing_tool
from tests.ingestion.conftest import count, fetch, points_of
from tests.ingestion.server import free_port

URL = "/api/v1/prom/write"
REMOTE_WRITE_HEADERS = {
    "content_encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def write_request(series: list[tuple[dict[str, str], list[tuple[float, int]]]], metadata=()) -> bytes:
    request = MESSAGES["WriteRequest"]()
    for labels, samples in series:
        timeseries = request.timeseries.add()
        for name, value in labels.items():
            timeseries.labels.add(name=name, value=value)
        for value, ms in samples:
            timeseries.samples.add(value=value, timestamp=ms)
    for family, kind in metadata:
        request.metadata.add(metric_family_name=family, type=kind)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def post_write(
    body: bytes, authorization: str | None, content_type: str = "application/x-protobuf", **headers
):
    extra = {**REMOTE_WRITE_HEADERS, **headers}
    if authorization:
        extra["authorization"] = authorization
    return Client().post(URL, data=body, content_type=content_type, headers=extra)


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"prometheus:{password}".encode()).decode()


def now_ms(seconds_ago: float = 0) -> int:
    return int((time.time() - seconds_ago) * 1000)


@pytest.mark.django_db
def test_samples_become_series_counters_cumulative_with_basic_auth(org_a):
    job = {"job": "node", "instance": "host-1:9100"}
    body = write_request(
        [
            (
                {"__name__": "node_cpu_seconds_total", **job, "cpu": "0", "mode": "idle"},
                [(100.0, now_ms(20)), (110.5, now_ms(10))],
            ),
            ({"__name__": "node_memory_MemAvailable_bytes", **job}, [(2.5e9, now_ms(10))]),
            ({"__name__": "up", **job}, [(1.0, now_ms(10)), (math.nan, now_ms(5))]),  # NaN: staleness marker
        ]
    )

    response = post_write(body, basic(org_a.ingest_key))

    assert response.status_code == 204, response.content
    rows = points_of(org_a.project.id)
    summary = [
        (row["name"], row["type"], row["temporality"], row["is_monotonic"], row["value"]) for row in rows
    ]
    assert summary == [
        ("node_cpu_seconds_total", "sum", 2, True, 100.0),
        ("node_cpu_seconds_total", "sum", 2, True, 110.5),
        ("node_memory_MemAvailable_bytes", "gauge", 0, False, 2.5e9),
        ("up", "gauge", 0, False, 1.0),
    ]
    assert rows[0]["labels"] == {"job": "node", "instance": "host-1:9100", "cpu": "0", "mode": "idle"}


@pytest.mark.django_db
def test_a_histogram_family_with_metadata_becomes_one_histogram(org_a):
    ms, labels = now_ms(5), {"job": "api", "route": "/pay"}
    buckets = [("0.1", 3.0), ("0.5", 7.0), ("+Inf", 8.0)]
    body = write_request(
        [({"__name__": "http_seconds_bucket", **labels, "le": le}, [(value, ms)]) for le, value in buckets]
        + [
            ({"__name__": "http_seconds_sum", **labels}, [(2.25, ms)]),
            ({"__name__": "http_seconds_count", **labels}, [(8.0, ms)]),
            ({"__name__": "jobs_done_total", "job": "api"}, [(4.0, ms)]),
        ],
        metadata=[("http_seconds", HISTOGRAM), ("jobs_done", COUNTER)],
    )

    assert post_write(body, f"Bearer {org_a.ingest_key}").status_code == 204

    histogram, jobs = points_of(org_a.project.id)
    assert (histogram["name"], histogram["type"], histogram["labels"]) == (
        "http_seconds",
        "histogram",
        labels,
    )
    assert (histogram["bounds"], histogram["bucket_counts"], histogram["count"], histogram["sum"]) == (
        [0.1, 0.5],
        [3, 4, 1],
        8,
        2.25,
    )
    assert (jobs["name"], jobs["type"], jobs["value"]) == ("jobs_done_total", "sum", 4.0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no key", 401),
        ("unknown key", 401),
        ("read key", 403),
        ("not snappy", 415),
        ("wrong content type", 415),
        ("garbage protobuf", 400),
        ("corrupt snappy", 400),
        ("only samples too old", 400),
    ],
)
def test_bad_requests_get_the_answer_prometheus_does_not_retry(org_a, case, status):
    good = write_request([({"__name__": "up"}, [(1.0, now_ms())])])
    body, auth, kwargs = good, f"Bearer {org_a.ingest_key}", {}
    if case == "no key":
        auth = None
    elif case == "unknown key":
        auth = basic("vgl_ingest_nope")
    elif case == "read key":
        auth = basic(org_a.read_key)
    elif case == "not snappy":
        kwargs = {"content_encoding": "gzip"}
    elif case == "wrong content type":
        kwargs = {"content_type": "application/json"}
    elif case == "garbage protobuf":
        body = bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff\xff"))
    elif case == "corrupt snappy":
        body = b"\x20garbage that is not snappy"
    elif case == "only samples too old":
        body = write_request([({"__name__": "up"}, [(1.0, now_ms(40 * 86400))])])

    response = post_write(body, auth, **kwargs)

    assert response.status_code == status, response.content
    assert "error" in response.json()
    assert count("metrics_point", org_a.project.id) == 0


@pytest.mark.django_db
def test_a_rate_limited_write_is_429_with_retry_after(org_a, settings):
    settings.INGEST_RATE_PER_SECOND, settings.INGEST_RATE_BURST = 1, 1
    body = write_request([({"__name__": "up"}, [(1.0, now_ms(2)), (1.0, now_ms(1))])])
    assert post_write(body, f"Bearer {org_a.ingest_key}").status_code == 204
    response = post_write(body, f"Bearer {org_a.ingest_key}")
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1


# A real Prometheus and node_exporter --------------------------------------------------------------


class Process:
    def __init__(self, argv: list[str], port: int) -> None:
        self.argv, self.port = argv, port
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"{self.argv[0]} did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_for(condition, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def stored_names(project_id: int) -> set[str]:
    return {
        row["name"] for row in fetch("SELECT name FROM metrics_series WHERE project_id = %s", [project_id])
    }


def query_api(base_url: str, project_id: int, key: str, **params) -> dict:
    response = httpx.get(
        f"{base_url}/api/v1/projects/{project_id}/metrics/query",
        params=params,
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.django_db(transaction=True)
def test_a_real_prometheus_remote_writes_node_exporter_metrics_that_are_queryable(
    vigil_server, org_a, tmp_path
):
    if shutil.which("prometheus") is None or shutil.which("prometheus-node-exporter") is None:
        missing_tool("Debian's prometheus and prometheus-node-exporter packages are not installed")
    exporter_port, prometheus_port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:{exporter_port}"]
remote_write:
  - url: {vigil_server.url}/api/v1/prom/write
    basic_auth:
      username: prometheus
      password: {org_a.ingest_key}
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
"""
    )
    exporter = Process(
        ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{exporter_port}"], exporter_port
    )
    prometheus = None
    try:
        prometheus = Process(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            prometheus_port,
        )
        wanted = {"node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_filesystem_avail_bytes"}
        wait_for(lambda: wanted <= stored_names(org_a.project.id), "node_exporter series in Vigil")
        exporter_cpu = "process_cpu_seconds_total"  # node_exporter's own: it starts again at 0
        wait_for(lambda: _points(org_a.project.id, exporter_cpu) >= 3, "a few scrapes")
        exporter.stop()
        exporter.start()  # a restart: the exporter's own counters reset
        before = _points(org_a.project.id, exporter_cpu)
        wait_for(lambda: _points(org_a.project.id, exporter_cpu) >= before + 3, "scrapes after the restart")
    finally:
        if prometheus is not None:
            prometheus.stop()
        exporter.stop()

    key, project = org_a.read_key, org_a.project.id
    start = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    memory = query_api(
        vigil_server.url,
        project,
        key,
        name="node_memory_MemAvailable_bytes",
        agg="avg",
        start=start,
        step="5s",
    )
    assert memory["kind"] == "gauge" and all(value > 0 for _, value in memory["series"][0]["points"])
    disk = query_api(
        vigil_server.url,
        project,
        key,
        name="node_filesystem_avail_bytes",
        agg="max",
        start=start,
        step="5s",
        group_by="mountpoint",
    )
    assert any(series["labels"]["mountpoint"] == "/" for series in disk["series"])
    cpu = query_api(
        vigil_server.url,
        project,
        key,
        name="node_cpu_seconds_total",
        agg="rate",
        start=start,
        step="5s",
        group_by="mode",
    )
    rates = {
        series["labels"]["mode"]: [v for _, v in series["points"] if v is not None]
        for series in cpu["series"]
    }
    assert rates["idle"] and all(0 <= value for values in rates.values() for value in values)
    # Across the restart the exporter's CPU counter went back to ~0: a rate that took the drop as a
    # (huge negative) increase would show it; handled as a reset every step stays plausible.
    own = query_api(vigil_server.url, project, key, name=exporter_cpu, agg="rate", start=start, step="5s")
    own_rates = [value for _, value in own["series"][0]["points"] if value is not None]
    assert own_rates and all(0 <= value < 10 for value in own_rates)


def _points(project_id: int, name: str) -> int:
    return fetch(
        "SELECT count(*) AS n FROM metrics_point p JOIN metrics_series s ON s.id = p.series_id"
        " WHERE p.project_id = %s AND s.name = %s",
        [project_id, name],
    )[0]["n"]


@pytest.mark.django_db
def test_metadata_sent_in_a_request_of_its_own_decides_later_samples(org_a):
    # Prometheus sends metadata apart from samples (once a minute): it must still count.
    metadata_only = write_request([], metadata=[("queue_seconds", HISTOGRAM)])
    assert post_write(metadata_only, f"Bearer {org_a.ingest_key}").status_code == 204
    ms = now_ms(5)
    body = write_request(
        [
            ({"__name__": "queue_seconds_bucket", "le": le}, [(value, ms)])
            for le, value in [("1", 2.0), ("+Inf", 5.0)]
        ]
    )

    assert post_write(body, f"Bearer {org_a.ingest_key}").status_code == 204

    [histogram] = points_of(org_a.project.id)
    assert (histogram["name"], histogram["type"], histogram["bucket_counts"]) == (
        "queue_seconds",
        "histogram",
        [2, 3],
    )
