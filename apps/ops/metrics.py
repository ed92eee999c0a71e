"""Vigil's own Prometheus metrics: HTTP requests and Celery tasks.

Design note: with ``PROMETHEUS_MULTIPROC_DIR`` set (``make run`` sets it; so should any host
that runs several uvicorn workers or a prefork Celery worker), every process writes its
samples to mmap files in that directory and ``/metrics`` merges them, so one scrape sees the
whole host whatever process answers it. Without it, the process's default registry is exposed.
The directory must be emptied when the host's processes start (devstack does it).

The Celery hooks below are signal receivers: a documented exception to "no signals" (STYLE.md),
because they are instrumentation, not business logic, and Celery offers no other hook that
sees every task in every worker process. They are connected by importing this module from
``OpsConfig.ready()``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from celery import signals
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# Label values must come from small, known sets: every distinct value is a new time series.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"

http_requests = Counter(
    "vigil_http_requests",
    "HTTP requests answered, by method, route name and status code.",
    ["method", "route", "status"],
)
http_request_duration = Histogram(
    "vigil_http_request_duration_seconds",
    "Time from the request entering the middleware to the response leaving it.",
    ["method", "route"],
)
celery_tasks = Counter(
    "vigil_celery_tasks",
    "Celery tasks finished, by task name and outcome (success, failure, retry, ...).",
    ["task", "outcome"],
)
celery_task_failures = Counter(
    "vigil_celery_task_failures",
    "Celery tasks that raised, by task name and exception class.",
    ["task", "exception"],
)
celery_task_duration = Histogram(
    "vigil_celery_task_duration_seconds",
    "Run time of Celery tasks, by task name.",
    ["task"],
    # Tasks range from a heartbeat (ms) to rollups and retention (minutes).
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, float("inf")),
)


def is_multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition() -> bytes:
    """The text exposition of every metric of this host (multiprocess) or this process."""
    if is_multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def route_name(request: HttpRequest) -> str:
    """The URL name (``app:thing-action``), never the raw path: ids in paths would explode cardinality."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED_ROUTE
    return match.view_name or match.route or UNMATCHED_ROUTE


class RequestMetricsMiddleware:
    """Counts and times every request. Sits right after RequestIdMiddleware to see nearly all of it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        record_request(request.method or "", route_name(request), response.status_code, started)
        return response


# (method, route, status) -> the two metrics' children. `labels()` validates and locks on every
# call (~2 µs of the ~4.5 a request paid here, once per Sentry event); the label values are
# bounded (known methods, our route names, HTTP statuses), so the children are kept.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def record_request(method: str, route: str, status: int, started: float) -> None:
    """Count and time one answered request (`started`: its time.perf_counter() on arrival)."""
    method = method if method in _KNOWN_METHODS else "OTHER"
    children = _children.get((method, route, status))
    if children is None:
        children = _children[method, route, status] = (
            http_requests.labels(method=method, route=route, status=str(status)),
            http_request_duration.labels(method=method, route=route),
        )
    children[0].inc()
    children[1].observe(time.perf_counter() - started)


# task_id -> perf_counter at start, per worker process; popped when the task finishes.
_task_started: dict[str, float] = {}


def _task_name(sender: Any) -> str:
    return str(getattr(sender, "name", None) or "unknown")


@signals.task_prerun.connect(dispatch_uid="vigil.ops.metrics.task_prerun")
def on_task_prerun(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _task_started[task_id] = time.perf_counter()


@signals.task_postrun.connect(dispatch_uid="vigil.ops.metrics.task_postrun")
def on_task_postrun(
    sender: Any = None, task_id: str | None = None, state: str | None = None, **_: Any
) -> None:
    name = _task_name(sender)
    started = _task_started.pop(task_id, None) if task_id else None
    if started is not None:
        celery_task_duration.labels(task=name).observe(time.perf_counter() - started)
    celery_tasks.labels(task=name, outcome=(state or "unknown").lower()).inc()


@signals.task_failure.connect(dispatch_uid="vigil.ops.metrics.task_failure")
def on_task_failure(sender: Any = None, exception: BaseException | None = None, **_: Any) -> None:
    exception_name = type(exception).__name__ if exception is not None else "unknown"
    celery_task_failures.labels(task=_task_name(sender), exception=exception_name).inc()
