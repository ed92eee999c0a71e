"""Metric read API: the metric list and chart queries (parameters: apps.metrics.query).

Read keys and any member of the project's organization may read; other tenants get 404 from
get_project_for before any parameter is looked at, so a 400 never confirms that a project exists.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.views import ApiView
from apps.metrics.query import AGGS, epoch_seconds, parse_query
from apps.metrics.selectors import metric_exemplars_for, metric_list_for, metric_query_run
from apps.projects.scoping import get_project_for

QUERY_PARAMETERS = [
    OpenApiParameter("name", str, required=True, description="Metric name."),
    OpenApiParameter("agg", str, enum=AGGS, description="Aggregation per step; default avg."),
    OpenApiParameter("start", str, description="RFC 3339, Unix seconds, now, or relative (-24h)."),
    OpenApiParameter("end", str, description="Same formats as start; default now."),
    OpenApiParameter("step", str, description="Seconds or a duration (30s, 5m, 1h)."),
    OpenApiParameter("group_by", str, description="Label names, comma-separated."),
    OpenApiParameter("label.<name>", str, description="Exact label filter; repeat for any of."),
]


class MetricList(ApiView):
    @extend_schema(
        description="The project's metric names with their kind, unit, description and label keys.",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = get_project_for(request, project_id)
        return Response({"metrics": metric_list_for(project.pk)})


class MetricQueryView(ApiView):
    @extend_schema(
        description="One metric as chart series: an aggregation per step, grouped and filtered by labels, "
        "read from raw points or the 1m/1h rollups by step (README, Metrics), and the exemplars of "
        "those series in the range (value, time, trace_id, span_id, attributes, the series' labels).",
        parameters=QUERY_PARAMETERS,
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = get_project_for(request, project_id)
        query = parse_query(request.query_params, timezone.now())
        kind, series = metric_query_run(project.pk, query)
        return Response(
            {
                "name": query.name,
                "kind": kind,
                "agg": query.agg,
                "start": epoch_seconds(query.start),
                "end": epoch_seconds(query.end),
                "step": int(query.step.total_seconds()),
                "resolution": query.resolution,
                "series": series,
                # Measurements with the trace they were taken in: a chart marks them and links there.
                "exemplars": metric_exemplars_for(project.pk, query) if series else [],
            }
        )
