"""OTLP/gRPC: the third transport of the ingestion pipeline, next to the Django views and the
ASGI fast path. Run it as its own process: `python manage.py otlp_grpc` (make run and
docker-compose start it next to the web server).

Why a transport and not a second pipeline: every Export call becomes the same `IngestRequest`
the HTTP transports build (the protobuf body, the key from `authorization: Bearer` or `x-api-key`
metadata) and goes through `endpoint.handle` on the ASGI path's thread pool, so authentication,
quota and rate limits, redaction, the one transaction and partial_success are the HTTP ones.
The message stays undecoded bytes on the way in (no deserializer) and the reply's bytes go out
as they are: the pipeline parses once, as it does for OTLP/HTTP.

Compression is gRPC's own (`grpc-encoding: gzip`): grpcio inflates before the handler runs, and
refuses messages above INGEST_MAX_BODY_BYTES once inflated (RESOURCE_EXHAUSTED) — the same cap an
uncompressed HTTP body has. Errors map as the OTLP spec asks (endpoint.GRPC_CODES): UNAUTHENTICATED,
PERMISSION_DENIED, INVALID_ARGUMENT (never retried), and RESOURCE_EXHAUSTED / UNAVAILABLE carrying
a google.rpc.RetryInfo — the exporters retry RESOURCE_EXHAUSTED only when RetryInfo is present.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any

import grpc
from django.conf import settings
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from apps.ingestion import endpoint, otlp
from apps.ingestion.transport import run_in_pool
from apps.ops.metrics import record_request
from apps.ops.middleware import request_id_for
from apps.projects.authentication import key_from_values

logger = logging.getLogger(__name__)

SERVICES = {
    "opentelemetry.proto.collector.logs.v1.LogsService": "logs",
    "opentelemetry.proto.collector.metrics.v1.MetricsService": "metrics",
    "opentelemetry.proto.collector.trace.v1.TraceService": "traces",
}
ROUTES = {signal: endpoint.Route("otlp", signal, f"ingestion:grpc-{signal}") for signal in SERVICES.values()}
GRACE_SECONDS = 10.0


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    wanted = {"authorization", "x-api-key", "x-request-id"}
    return {key: value for key, value in context.invocation_metadata() or () if key in wanted}


def export_handler(signal: str) -> Any:
    route = ROUTES[signal]

    async def export(body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        started = time.perf_counter()
        metadata = _metadata(context)
        request = endpoint.IngestRequest(
            method="POST",
            content_type=otlp.PROTOBUF,
            content_encoding="",  # gRPC inflated it already
            content_length="",
            secret=key_from_values(metadata.get("authorization", ""), metadata.get("x-api-key", "")),
            body=body,
        )
        request_id = request_id_for(metadata.get("x-request-id", ""))
        # The ASGI path's pool and per-request wrapper: connections handled as around a Django
        # request, the request id bound for logs, a bug answered (not a dropped connection).
        reply = await run_in_pool(endpoint.handle, route, request, request_id=request_id)
        record_request("POST", route.name, reply.status, started)
        # The quota headers travel as trailing metadata (x-vigil-quota-*), as on the HTTP answers.
        quota = tuple(
            (name.lower(), value) for name, value in reply.headers.items() if name.startswith("X-Vigil-")
        )
        if reply.status == 200:
            context.set_trailing_metadata(quota)
            return reply.body
        status = rpc_status.to_status(error_status(reply))
        await context.abort_with_status(
            status._replace(trailing_metadata=(*status.trailing_metadata, *quota))
        )
        raise AssertionError("abort_with_status returns only by raising")  # pragma: no cover

    return export


def error_status(reply: endpoint.Reply) -> status_pb2.Status:
    """The google.rpc.Status of a refused request: endpoint.handle already wrote one for OTLP
    protobuf (code and message); a retryable refusal gains RetryInfo from its Retry-After."""
    status = status_pb2.Status()
    if reply.content_type == otlp.PROTOBUF:
        status.ParseFromString(reply.body)
    else:  # the transport's own 500 (a bug): not retried, the exporter logs it
        status.code, status.message = code_pb2.INTERNAL, "Internal error."
    retry_after = reply.headers.get("Retry-After")
    if retry_after is not None and status.code in (code_pb2.RESOURCE_EXHAUSTED, code_pb2.UNAVAILABLE):
        info = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=int(retry_after)))
        status.details.add().Pack(info)
    return status


def handlers() -> list[grpc.GenericRpcHandler]:
    return [
        grpc.method_handlers_generic_handler(
            service,
            # No (de)serializers: bytes in, bytes out; endpoint.handle parses and answers protobuf.
            {"Export": grpc.unary_unary_rpc_method_handler(export_handler(signal))},
        )
        for service, signal in SERVICES.items()
    ]


async def serve(host: str, port: int, reuse_port: bool = False) -> None:
    """Serve until SIGINT/SIGTERM; in-flight exports then finish (commit and answer) before exit.
    grpcio would share a taken port silently (SO_REUSEPORT): a second stack on the same machine
    would then get half of the first one's exports. Off unless asked (several receivers on one
    port, as bench/ingest_grpc.py runs them)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", int(settings.INGEST_MAX_BODY_BYTES)),
            ("grpc.so_reuseport", int(reuse_port)),
        ],
    )
    server.add_generic_rpc_handlers(handlers())
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    logger.info("OTLP/gRPC receiver listening on %s:%s", host, bound)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(GRACE_SECONDS)
