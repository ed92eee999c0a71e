"""OTLP/gRPC gets the same quota as HTTP: the x-vigil-quota-* values as trailing metadata on
every answer, and RESOURCE_EXHAUSTED with RetryInfo once a `block` plan's quota is used up."""

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status

from tests.billing.conftest import put_on_plan, usage_of
from tests.ingestion.conftest import vigil_grpc_server  # noqa: F401 - the real gRPC receiver
from tests.ingestion.test_grpc import a_log_request, export_logs

pytestmark = pytest.mark.django_db(transaction=True)


def test_grpc_exports_carry_the_quota_and_are_refused_past_it(vigil_grpc_server, org_a):  # noqa: F811
    put_on_plan(org_a.organization, events_per_month=1, overage="block")
    metadata = [("authorization", f"Bearer {org_a.ingest_key}")]
    with grpc.insecure_channel(vigil_grpc_server.address) as channel:
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

        stub = logs_service_pb2_grpc.LogsServiceStub(channel)
        _, call = stub.Export.with_call(a_log_request(), metadata=metadata, timeout=30)
    trailing = dict(call.trailing_metadata())
    assert (trailing["x-vigil-quota-limit"], trailing["x-vigil-quota-remaining"]) == ("1", "0")
    with pytest.raises(grpc.RpcError) as caught:
        export_logs(vigil_grpc_server.address, a_log_request(), metadata)
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "monthly event quota" in error.details()
    assert dict(error.trailing_metadata())["x-vigil-quota-limit"] == "1"
    status = rpc_status.from_call(error)
    assert status.code == code_pb2.RESOURCE_EXHAUSTED
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and 1 <= info.retry_delay.seconds <= 3600
    assert usage_of(org_a.organization) == {("logs", "accepted"): 1, ("logs", "quota"): 1}
