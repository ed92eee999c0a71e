"""OTLP/gRPC: the stock Python SDK with its default gRPC exporters against a real
`manage.py otlp_grpc` process on the test database, and the status codes the OTLP spec asks for."""

from __future__ import annotations

import subprocess
import sys
from time import time_ns

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.logs.v1 import logs_pb2

from tests.ingestion.conftest import count, logs_of
from tests.ingestion.server import ROOT, GrpcServer, server_env
from tests.ingestion.test_real_clients import (
    assert_logs_match,
    assert_metrics_match,
    assert_spans_match,
    run_client,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("header", "compression"), [("authorization=Bearer%20{key}", None), ("x-api-key={key}", "gzip")]
)
def test_the_python_sdk_default_grpc_exporters_deliver_logs_metrics_and_spans_exactly(
    vigil_grpc_server, org_a, header, compression
):
    run_id, sent = run_client(
        "grpc",
        vigil_grpc_server.url,
        header.format(key=org_a.ingest_key),
        {"OTEL_EXPORTER_OTLP_COMPRESSION": compression} if compression else {},
    )
    assert len(sent["logs"]) == 2 and len(sent["spans"]) == 2
    assert_logs_match(org_a.project.id, sent)
    assert_spans_match(org_a.project.id, sent)
    assert_metrics_match(org_a.project.id, run_id)


def a_log_request(message: str = "over grpc") -> logs_service_pb2.ExportLogsServiceRequest:
    request = logs_service_pb2.ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.time_unix_nano = time_ns()
    record.severity_number = logs_pb2.SEVERITY_NUMBER_ERROR
    record.body.string_value = message
    return request


def export_logs(address: str, request: object, metadata: list[tuple[str, str]], **kwargs: object) -> object:
    with grpc.insecure_channel(address) as channel:
        stub = logs_service_pb2_grpc.LogsServiceStub(channel)
        return stub.Export(request, metadata=metadata, timeout=30, **kwargs)


def refusal(address: str, request: object, metadata: list[tuple[str, str]]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        export_logs(address, request, metadata)
    return caught.value


def test_a_missing_or_unknown_key_is_unauthenticated(vigil_grpc_server, org_a):
    assert refusal(vigil_grpc_server.address, a_log_request(), []).code() == grpc.StatusCode.UNAUTHENTICATED
    error = refusal(vigil_grpc_server.address, a_log_request(), [("authorization", "Bearer vgl_nope")])
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Unknown or revoked API key" in error.details()
    assert count("logs_event", org_a.project.id) == 0


def test_a_read_key_is_permission_denied(vigil_grpc_server, org_a):
    error = refusal(vigil_grpc_server.address, a_log_request(), [("x-api-key", org_a.read_key)])
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert count("logs_event", org_a.project.id) == 0


def test_a_payload_that_is_not_the_service_message_is_invalid_argument_and_not_retryable(
    vigil_grpc_server, org_a
):
    with grpc.insecure_channel(vigil_grpc_server.address) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        with pytest.raises(grpc.RpcError) as caught:
            export(b"\xff\xff\xff garbage", metadata=[("x-api-key", org_a.ingest_key)], timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Malformed OTLP protobuf" in caught.value.details()
    assert rpc_status.from_call(caught.value) is None or not rpc_status.from_call(caught.value).details


def test_an_accepted_export_is_stored_before_the_answer_and_gzip_is_read(vigil_grpc_server, org_a):
    response = export_logs(
        vigil_grpc_server.address,
        a_log_request("gzipped over grpc " + "x" * 2000),
        [("authorization", f"Bearer {org_a.ingest_key}")],
        compression=grpc.Compression.Gzip,
    )
    assert not response.HasField("partial_success")
    [row] = logs_of(org_a.project.id)
    assert row["message"] == "gzipped over grpc " + "x" * 2000 and row["level"] == 17


def test_a_key_revoked_here_is_refused_by_the_grpc_server_on_its_next_export(vigil_grpc_server, org_a):
    from apps.audit import Actor
    from apps.projects.models import ApiKey
    from apps.projects.services import api_key_revoke

    metadata = [("authorization", f"Bearer {org_a.ingest_key}")]
    export_logs(vigil_grpc_server.address, a_log_request("before"), metadata)  # cached by the server
    # This process revokes: the server learns it only from the epoch its admission script compares.
    api_key_revoke(ApiKey.objects.get(project=org_a.project, scope="ingest"), by=Actor(user=org_a.owner))

    error = refusal(vigil_grpc_server.address, a_log_request("after"), metadata)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert [row["message"] for row in logs_of(org_a.project.id)] == ["before"]


def test_rejected_spans_come_back_as_partial_success(vigil_grpc_server, org_a):
    request = trace_service_pb2.ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    good = spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="good")
    good.start_time_unix_nano, good.end_time_unix_nano = time_ns() - 1000, time_ns()
    spans.add(trace_id=b"\x01", span_id=b"\x02" * 8, name="bad id")
    with grpc.insecure_channel(vigil_grpc_server.address) as channel:
        response = trace_service_pb2_grpc.TraceServiceStub(channel).Export(
            request, metadata=[("x-api-key", org_a.ingest_key)], timeout=30
        )
    assert response.partial_success.rejected_spans == 1
    assert "trace_id" in response.partial_success.error_message
    assert count("traces_span", org_a.project.id) == 1


def test_a_rate_limited_export_is_resource_exhausted_with_retry_info(org_a):
    server = GrpcServer({"INGEST_RATE_PER_SECOND": "1", "INGEST_RATE_BURST": "1"})
    try:
        metadata = [("x-api-key", org_a.ingest_key)]
        export_logs(server.address, a_log_request("the burst"), metadata)
        error = refusal(server.address, a_log_request("over the rate"), metadata)
    finally:
        server.stop()
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(error)
    assert status is not None and status.code == code_pb2.RESOURCE_EXHAUSTED
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.seconds >= 1
    assert [row["message"] for row in logs_of(org_a.project.id)] == ["the burst"]


def test_the_error_status_of_an_unavailable_store_carries_retry_info():
    from apps.ingestion import endpoint, otlp
    from apps.ingestion.grpc_server import error_status

    body = otlp.status_body(otlp.PROTOBUF, endpoint.GRPC_CODES[503], "Storage is unavailable; retry later.")
    status = error_status(endpoint.Reply(503, otlp.PROTOBUF, body, {"Retry-After": "5"}))
    assert status.code == code_pb2.UNAVAILABLE
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.seconds == 5
    assert isinstance(status, status_pb2.Status)


def test_an_export_while_the_database_is_down_is_unavailable_with_retry_info(org_a):
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = closed.getsockname()[1]
        server = GrpcServer({"DATABASE_URL": f"postgres://vigil@127.0.0.1:{port}/vigil"})
        try:
            error = refusal(server.address, a_log_request(), [("x-api-key", org_a.ingest_key)])
        finally:
            server.stop()
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    status = rpc_status.from_call(error)
    info = error_details_pb2.RetryInfo()
    assert status is not None and status.details[0].Unpack(info) and info.retry_delay.seconds >= 1


def test_a_second_receiver_on_a_taken_port_fails_instead_of_sharing_it(vigil_grpc_server):
    # grpcio would bind with SO_REUSEPORT and silently take half of the first stack's exports.
    command = ["manage.py", "otlp_grpc", "--host", "127.0.0.1", "--port", str(vigil_grpc_server.port)]
    done = subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=server_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "bind" in done.stderr.lower()
