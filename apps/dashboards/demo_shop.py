"""The simulated shop behind the demo data: frontend, catalog, cart, checkout, payments, auth,
recommendations and a worker, reported as their OpenTelemetry SDKs would (OTLP requests).

Stateless in time: `simulate(start, end, anchor, seed)` needs only its window and the anchor, so a
backfill of hours and a 5-second trickle step produce the same kind of data, and consecutive
windows never overlap. Metrics are exported on a fixed 30 s grid as a periodic reader would;
counters and histograms are deltas. Something to look at: the request rate follows a slow wave; an
incident (payment provider timeouts, slow checkouts, 5xx, a growing mail queue) recurs every 3
hours starting 65 minutes before the anchor; a new log pattern (a feature flag) starts 20 minutes
before it. Random, not cryptographic: `random.Random` seeded per window (reproducible).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_DELTA

METRIC_INTERVAL = 30  # seconds
INCIDENT_EVERY = timedelta(hours=3)
INCIDENT_BEFORE_ANCHOR = timedelta(minutes=65)
INCIDENT_LENGTH = timedelta(minutes=14)
NEW_PATTERN_BEFORE_ANCHOR = timedelta(minutes=20)
BASE_RATE = 1.5  # requests per second
SAMPLED = 0.5  # share of requests whose trace is recorded
DURATION_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
DEBUG, INFO, WARN, ERROR = 5, 9, 13, 17
SEVERITY_TEXT = {DEBUG: "DEBUG", INFO: "INFO", WARN: "WARN", ERROR: "ERROR"}
INTERNAL, SERVER, CLIENT = 1, 2, 3  # OTLP SpanKind
STATUS_ERROR = 2


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    route: str
    share: float
    median_ms: float
    spread: float
    steps: tuple[str, ...]


ROUTES = (
    Route("catalog", "GET", "/api/products", 0.33, 38, 0.45, ("cache", "db")),
    Route("catalog", "GET", "/api/products/{id}", 0.22, 22, 0.4, ("cache",)),
    Route("cart", "POST", "/api/cart/items", 0.14, 55, 0.5, ("db",)),
    Route("checkout", "POST", "/api/checkout", 0.08, 380, 0.35, ("db", "payments")),
    Route("auth", "POST", "/api/login", 0.09, 140, 0.3, ("db",)),
    Route("recommendations", "GET", "/api/recommendations", 0.14, 170, 0.6, ("model",)),
)
SERVICES = {  # name: (version, SDK language)
    "frontend": ("2.14.0", "nodejs"),
    "catalog": ("1.8.3", "go"),
    "cart": ("3.1.0", "java"),
    "checkout": ("4.0.2", "python"),
    "payments": ("1.22.7", "go"),
    "auth": ("2.3.1", "python"),
    "recommendations": ("0.9.4", "python"),
    "worker": ("4.0.2", "python"),
}
INSTANCES = ("7f9c4", "b21d8")
TABLES = {"catalog": "products", "cart": "cart_items", "auth": "users", "checkout": "orders"}
JOBS = ("send-receipt", "resize-images", "sync-inventory", "reindex-products")


def resource_of(service: str, instance: str) -> dict[str, Any]:
    version, language = SERVICES[service]
    return {
        "service.name": service,
        "service.version": version,
        "service.instance.id": f"{service}-{instance}",
        "host.name": f"ip-10-0-{len(service)}-{int(instance[:2], 16)}",
        "deployment.environment.name": "demo",
        "telemetry.sdk.language": language,
    }


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def _attributes(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_value(value)) for key, value in values.items()]


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000) * 1000


@dataclass
class Telemetry:
    """The OTLP requests being built, one resource entry per (signal, service, instance)."""

    logs: ExportLogsServiceRequest = field(default_factory=ExportLogsServiceRequest)
    traces: ExportTraceServiceRequest = field(default_factory=ExportTraceServiceRequest)
    metrics: ExportMetricsServiceRequest = field(default_factory=ExportMetricsServiceRequest)
    _scopes: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    def scope(self, signal: str, service: str, instance: str) -> Any:
        key = (signal, service, instance)
        if key not in self._scopes:
            plural = "spans" if signal == "traces" else signal
            group = getattr(getattr(self, signal), f"resource_{plural}").add()
            group.resource.attributes.extend(_attributes(resource_of(service, instance)))
            scope = getattr(group, f"scope_{plural}").add()
            scope.scope.name = f"shop.{service}"
            self._scopes[key] = scope
        return self._scopes[key]


@dataclass(frozen=True)
class Clock:
    """When things happen: the traffic wave, incidents and the feature-flag rollout."""

    anchor: datetime

    def rate(self, moment: datetime) -> float:
        hours = moment.timestamp() / 3600
        return BASE_RATE * (1 + 0.35 * math.sin(hours * math.pi / 3) + 0.1 * math.sin(hours * 7.3))

    def in_incident(self, moment: datetime) -> bool:
        return (moment - (self.anchor - INCIDENT_BEFORE_ANCHOR)) % INCIDENT_EVERY < INCIDENT_LENGTH

    def flag_live(self, moment: datetime) -> bool:
        return moment >= self.anchor - NEW_PATTERN_BEFORE_ANCHOR


@dataclass
class Context:
    """The request being simulated: where its spans and logs go."""

    instance: str = INSTANCES[0]
    trace_id: bytes = b""  # empty: not sampled, no spans, logs without trace ids
    span_id: bytes = b""  # the span logs are attached to
    at: datetime = datetime(1970, 1, 1, tzinfo=UTC)  # when the next log happens


class Shop:
    def __init__(self, clock: Clock, rng: random.Random, out: Telemetry) -> None:
        self.clock, self.rng, self.out = clock, rng, out
        self.context = Context()

    # --- spans and logs of one request ---

    def request(self, at: datetime) -> None:
        rng, route = self.rng, self.rng.choices(ROUTES, [r.share for r in ROUTES])[0]
        status, duration_ms = self.outcome(route, self.clock.in_incident(at))
        sampled = rng.random() < SAMPLED
        self.context = Context(rng.choice(INSTANCES), rng.getrandbits(128).to_bytes(16) if sampled else b"")
        path = route.route.replace("{id}", str(rng.randint(1000, 9999)))
        end = at + timedelta(milliseconds=duration_ms)
        http = {
            "http.request.method": route.method,
            "http.route": route.route,
            "url.path": path,
            "http.response.status_code": status,
        }
        name, failed = f"{route.method} {route.route}", "server error" if status >= 500 else ""
        root = self.span("frontend", name, SERVER, at, end, http, b"", failed)
        start, stop = at + timedelta(milliseconds=2), end - timedelta(milliseconds=2)
        server = self.span(route.service, name, SERVER, start, stop, http, root, failed)
        self.steps(route, server, start, stop, status)
        self.context.at, self.context.span_id = end, root
        access = {
            **http,
            "duration_ms": round(duration_ms, 1),
            "client.address": f"203.0.113.{rng.randint(2, 250)}",
        }
        message = f"{route.method} {path} {status} in {duration_ms:.0f} ms"
        self.log("frontend", INFO if status < 500 else ERROR, message, access)
        self.context.at, self.context.span_id = at + timedelta(milliseconds=duration_ms * 0.7), server
        self.service_log(route, status, duration_ms)

    def outcome(self, route: Route, incident: bool) -> tuple[int, float]:
        rng = self.rng
        slow = 3.2 if incident and route.service == "checkout" else 1.0
        duration = rng.lognormvariate(math.log(route.median_ms * slow), route.spread)
        status, roll = (201 if route.method == "POST" else 200), rng.random()
        if route.route == "/api/products/{id}" and roll < 0.03:
            status = 404
        elif route.service == "auth" and roll < 0.05:
            status = 401
        elif route.service == "checkout" and roll < (0.38 if incident else 0.003):
            status, duration = 502, 5000 + rng.random() * 400
        elif route.service == "checkout" and roll < (0.44 if incident else 0.06):
            status = 402
        elif roll > 0.998:
            status = 500
        return status, duration

    def span(
        self,
        service: str,
        name: str,
        kind: int,
        start: datetime,
        end: datetime,
        attributes: dict[str, Any],
        parent: bytes,
        error: str = "",
    ) -> bytes:
        """Record a span of the current trace (if sampled); returns its id for children and logs."""
        span_id = self.rng.getrandbits(64).to_bytes(8)
        if not self.context.trace_id:
            return span_id
        span = self.out.scope("traces", service, self.context.instance).spans.add(
            trace_id=self.context.trace_id,
            span_id=span_id,
            parent_span_id=parent,
            name=name,
            kind=kind,  # type: ignore[arg-type]
            start_time_unix_nano=_ns(start),
            end_time_unix_nano=_ns(end),
        )
        span.attributes.extend(_attributes(attributes))
        if error:
            span.status.code = STATUS_ERROR  # type: ignore[assignment]
            span.status.message = error
        return span_id

    def steps(self, route: Route, parent: bytes, start: datetime, end: datetime, status: int) -> None:
        """The backend's own work: cache, database, the payment provider, the ranking model."""
        share = (end - start) / len(route.steps)
        for index, step in enumerate(route.steps):
            begin = start + share * index + timedelta(milliseconds=1)
            finish = begin + share * (0.25 if step == "cache" else 0.85)
            service = route.service
            if step == "cache":
                self.span(service, "GET", CLIENT, begin, finish, {"db.system.name": "redis"}, parent)
            elif step == "db":
                table = TABLES[service]
                query = {
                    "db.system.name": "postgresql",
                    "db.collection.name": table,
                    "db.operation.name": "SELECT",
                }
                self.span(service, f"SELECT shop.{table}", CLIENT, begin, finish, query, parent)
            elif step == "model":
                self.span(
                    service,
                    "rank candidates",
                    INTERNAL,
                    begin,
                    finish,
                    {"model.version": "2026-11-02"},
                    parent,
                )
            else:  # the checkout calls payments, which calls the card provider
                error = "upstream timeout" if status == 502 else ""
                call = self.span(
                    service,
                    "POST /v1/charges",
                    CLIENT,
                    begin,
                    finish,
                    {"server.address": "payments"},
                    parent,
                    error,
                )
                charge = self.span(
                    "payments",
                    "POST /v1/charges",
                    SERVER,
                    begin,
                    finish,
                    {"http.route": "/v1/charges"},
                    call,
                    error,
                )
                inner = (begin + timedelta(milliseconds=3), finish - timedelta(milliseconds=2))
                self.span(
                    "payments", "provider.charge", CLIENT, *inner, {"peer.service": "stripe"}, charge, error
                )

    def service_log(self, route: Route, status: int, duration_ms: float) -> None:
        rng, service, log = self.rng, route.service, self.log
        order, user = rng.randint(100_000, 999_999), rng.randint(1, 48_000)
        if service == "catalog" and rng.random() < 0.3:
            key = f"product:{rng.randint(1000, 9999)}"
            log(service, DEBUG, f'cache miss for key "{key}", loading from primary', {"cache.key": key})
        elif service == "cart":
            sku = f"sku-{rng.randint(10000, 99999)}"
            log(service, INFO, f"added {rng.randint(1, 4)} x {sku} to cart", {"user.id": user, "sku": sku})
        elif service == "checkout" and status == 502:
            failure = {"order.id": order, "user.id": user, "error.type": "TimeoutError"}
            log(
                service,
                ERROR,
                f"payment provider timeout after 5000 ms for order {order} (attempt 3/3)",
                failure,
            )
            upstream = {"peer.service": "stripe", "http.response.status_code": 503}
            log("payments", ERROR, "upstream provider stripe returned 503: service unavailable", upstream)
        elif service == "checkout" and status == 402:
            log(service, WARN, f"payment declined for order {order}: insufficient_funds", {"order.id": order})
        elif service == "checkout":
            total = round(rng.uniform(8, 240), 2)
            placed = {"order.id": order, "user.id": user, "order.total": total}
            log(service, INFO, f"order {order} placed: {rng.randint(1, 6)} items, total {total} EUR", placed)
            charged = {"order.id": order, "payment.method": "card"}
            log("payments", INFO, f"charged card ending {rng.randint(1000, 9999)}: {total} EUR", charged)
            if self.clock.flag_live(self.context.at):
                variant, flag = rng.choice("AB"), {"feature_flag.key": "fast-checkout", "user.id": user}
                log(
                    service,
                    INFO,
                    f"feature flag 'fast-checkout' served variant {variant} to user {user}",
                    flag,
                )
        elif service == "auth" and status == 401:
            address = f"198.51.100.{rng.randint(2, 250)}"
            log(
                service,
                WARN,
                f"failed sign-in for user {user} from {address}: bad password",
                {"user.id": user},
            )
        elif service == "auth":
            log(
                service,
                INFO,
                f"user {user} signed in via password",
                {"user.id": user, "auth.method": "password"},
            )
        elif service == "recommendations" and duration_ms > 500:
            budget = {"model.version": "2026-11-02"}
            log(service, WARN, f"slow ranking: {duration_ms:.0f} ms > 500 ms budget", budget)
        elif service == "recommendations" and rng.random() < 0.4:
            log(service, DEBUG, f"ranked {rng.randint(20, 400)} candidates in {duration_ms * 0.6:.0f} ms")

    def log(self, service: str, level: int, message: str, attributes: dict[str, Any] | None = None) -> None:
        """A log record of the current request (or job) at its current moment."""
        context = self.context
        record = self.out.scope("logs", service, context.instance).log_records.add(
            time_unix_nano=_ns(context.at),
            severity_number=level,  # type: ignore[arg-type]
            severity_text=SEVERITY_TEXT[level],
            trace_id=context.trace_id,
            span_id=context.span_id if context.trace_id else b"",
        )
        record.body.string_value = message
        record.attributes.extend(_attributes(attributes or {}))

    # --- the worker's background jobs ---

    def job(self, at: datetime) -> None:
        rng = self.rng
        self.context = Context(rng.choice(INSTANCES), at=at)
        job_id, name = rng.randint(10_000_000, 99_999_999), rng.choice(JOBS)
        attributes = {"job.name": name, "job.id": job_id}
        if rng.random() < 0.04:
            attempt = f"attempt {rng.randint(1, 5)}/5"
            message = f"job {name} {job_id} failed: connection reset by peer ({attempt})"
            self.log("worker", ERROR, message, {**attributes, "error.type": "ConnectionResetError"})
        else:
            self.log(
                "worker", INFO, f"job {name} {job_id} finished in {rng.randint(40, 2400)} ms", attributes
            )

    # --- metrics, every METRIC_INTERVAL seconds ---

    def export_metrics(self, at: datetime) -> None:
        rng, rate, incident = self.rng, self.clock.rate(at), self.clock.in_incident(at)
        for instance in INSTANCES:
            for route in ROUTES:
                outcomes: dict[int, list[float]] = {}
                for _ in range(poisson(rng, rate * route.share * METRIC_INTERVAL / len(INSTANCES))):
                    status, ms = self.outcome(route, incident)
                    outcomes.setdefault(status, []).append(ms / 1000)
                for status, seconds in sorted(outcomes.items()):
                    self.histogram(route, instance, status, seconds, at)
            for service in SERVICES:
                memory = 180e6 + 40e6 * ((at.timestamp() / 600 + len(service)) % 1) + rng.random() * 8e6
                self.gauge(service, instance, "process.memory.usage", "By", memory, at)
                cpu = 0.08 + 0.22 * rate / BASE_RATE * (1.8 if service == "recommendations" else 1)
                self.gauge(
                    service,
                    instance,
                    "process.cpu.utilization",
                    "1",
                    min(0.95, cpu + rng.random() * 0.05),
                    at,
                )
        depth = float(rng.randint(0, 12) + (140 if incident else 0))
        self.gauge(
            "worker",
            INSTANCES[0],
            "queue.depth",
            "{message}",
            depth,
            at,
            {"messaging.destination.name": "mail"},
        )
        placed = poisson(rng, rate * 0.08 * METRIC_INTERVAL * (0.6 if incident else 0.93))
        metric = self.out.scope("metrics", "checkout", INSTANCES[0]).metrics.add(
            name="orders.placed", unit="{order}"
        )
        metric.sum.aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
        metric.sum.is_monotonic = True
        metric.sum.data_points.add(
            start_time_unix_nano=_ns(at) - METRIC_INTERVAL * 10**9, time_unix_nano=_ns(at), as_int=placed
        )

    def histogram(self, route: Route, instance: str, status: int, seconds: list[float], at: datetime) -> None:
        scope = self.out.scope("metrics", route.service, instance)
        metric = scope.metrics.add(name="http.server.request.duration", unit="s")
        metric.histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_DELTA
        counts = [0] * (len(DURATION_BOUNDS) + 1)
        for value in seconds:
            counts[
                next((i for i, bound in enumerate(DURATION_BOUNDS) if value <= bound), len(DURATION_BOUNDS))
            ] += 1
        point = metric.histogram.data_points.add(
            start_time_unix_nano=_ns(at) - METRIC_INTERVAL * 10**9,
            time_unix_nano=_ns(at),
            count=len(seconds),
            sum=sum(seconds),
            min=min(seconds),
            max=max(seconds),
            explicit_bounds=DURATION_BOUNDS,
            bucket_counts=counts,
        )
        labels = {
            "http.request.method": route.method,
            "http.route": route.route,
            "http.response.status_code": status,
        }
        point.attributes.extend(_attributes(labels))

    def gauge(
        self,
        service: str,
        instance: str,
        name: str,
        unit: str,
        value: float,
        at: datetime,
        labels: dict[str, Any] | None = None,
    ) -> None:
        metric = self.out.scope("metrics", service, instance).metrics.add(name=name, unit=unit)
        point = metric.gauge.data_points.add(time_unix_nano=_ns(at), as_double=value)
        point.attributes.extend(_attributes(labels or {}))


def poisson(rng: random.Random, expected: float) -> int:
    if expected <= 0:
        return 0
    if expected > 30:  # normal approximation: Knuth's product underflows for large means
        return max(0, round(rng.gauss(expected, math.sqrt(expected))))
    limit, count, product = math.exp(-expected), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def simulate(start: datetime, end: datetime, anchor: datetime, seed: int) -> Telemetry:
    """Every request, job and metric export of the shop in [start, end)."""
    out = Telemetry()
    shop = Shop(Clock(anchor), random.Random(seed), out)  # noqa: S311 (simulation, not secrets)
    rng, second = shop.rng, start
    while second < end:
        step = min(timedelta(seconds=1), end - second)
        for _ in range(poisson(rng, shop.clock.rate(second) * step.total_seconds())):
            shop.request(second + step * rng.random())
        if rng.random() < 0.25 * step.total_seconds():
            shop.job(second + step * rng.random())
        second += step
    export = math.ceil(start.timestamp() / METRIC_INTERVAL) * METRIC_INTERVAL
    while export < end.timestamp():
        shop.export_metrics(datetime.fromtimestamp(export, UTC))
        export += METRIC_INTERVAL
    return out
