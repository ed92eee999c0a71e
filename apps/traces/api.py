"""Trace API: one trace as a span tree with its logs, and a list of recent traces."""

from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import BadParameter, InvalidInput
from apps.api.timerange import parse_range
from apps.api.views import ApiView
from apps.projects.scoping import get_project_for
from apps.traces.selectors import TraceFilter, recent_traces, trace_detail

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_DURATION_MS = 400 * 86_400_000  # a span lasting longer than the longest range any chart shows


class TraceListParams(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    service = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    start = serializers.CharField(required=False, default="-1h", max_length=64)
    end = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
    min_duration_ms = serializers.FloatField(required=False, min_value=0, max_value=MAX_DURATION_MS)
    max_duration_ms = serializers.FloatField(required=False, min_value=0, max_value=MAX_DURATION_MS)
    status = serializers.ChoiceField(choices=["any", "error"], required=False, default="any")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)


class TraceList(ApiView):
    @extend_schema(operation_id="traces_list", parameters=[TraceListParams], responses={200: None})
    def get(self, request: Request, project_id: int) -> Response:
        """Recent traces (root span name, service, duration, error flag), newest first."""
        project, _ = get_project_for(request, project_id)
        params = TraceListParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        try:
            # The same start/end syntax, default and cap as log search; the error is keyed by
            # field like the serializer's own errors above (clients of this list rely on it).
            window = parse_range(data["start"], data["end"] or None)
        except BadParameter as bad:
            raise InvalidInput({bad.name: str(bad)}) from None
        filters = TraceFilter(
            start=window.start,
            end=window.end,
            q=data["q"],
            service=data["service"],
            min_duration_ms=data.get("min_duration_ms"),
            max_duration_ms=data.get("max_duration_ms"),
            errors_only=data["status"] == "error",
            limit=data["limit"],
        )
        return Response({"traces": recent_traces(project.pk, filters)})


class TraceDetail(ApiView):
    @extend_schema(
        parameters=[
            OpenApiParameter("trace_id", str, OpenApiParameter.PATH, description="32 hex characters")
        ],
        responses={200: None},
    )
    def get(self, request: Request, project_id: int, trace_id: str) -> Response:
        """Every span of the trace as a tree (durations, status, events) and the logs that carry its id."""
        project, _ = get_project_for(request, project_id)
        trace_id = trace_id.lower()
        if not TRACE_ID.match(trace_id) or trace_id == "0" * 32:
            raise InvalidInput({"trace_id": "A trace id is 32 hexadecimal characters, not all zero."})
        trace = trace_detail(project.pk, trace_id)
        if trace is None:
            raise NotFound("No spans or logs with this trace id in this project.")
        return Response(trace)
