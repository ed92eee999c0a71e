"""Read API of logs: search, stats and patterns (DESIGN.md §3).

Access: a project read key or a signed-in member of the project's organization, resolved by
get_project_for (other tenants get 404, ingest keys 403). Bad parameters are 400 in the common
error shape; a query syntax error carries {"position", "expected"} in details.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import BadParameter, BadRequest
from apps.api.timerange import TimeRange, parse_range
from apps.api.views import ApiView
from apps.logs import params
from apps.logs.query import Node, QuerySyntaxError, parse
from apps.logs.selectors import PATTERN_ORDERS, log_patterns, search_logs
from apps.logs.stats import log_stats
from apps.projects.scoping import get_project_for

RANGE_PARAMETERS = [
    OpenApiParameter("q", str, description='Search query, e.g. `level>=warn service:api "timed out"`.'),
    OpenApiParameter("start", str, description="ISO 8601 or relative (-15m, -24h, -7d); default end - 1h."),
    OpenApiParameter("end", str, description="ISO 8601 or relative; default now."),
]


def _query(request: Request) -> Node | None:
    source = request.query_params.get("q", "")
    try:
        return parse(source)
    except QuerySyntaxError as exc:
        raise BadRequest(str(exc), {"position": exc.position, "expected": exc.expected}) from None


def _range(request: Request) -> TimeRange:
    return parse_range(request.query_params.get("start"), request.query_params.get("end"))


class LogSearch(ApiView):
    @extend_schema(
        parameters=[
            *RANGE_PARAMETERS,
            OpenApiParameter("limit", int, description="1 to 1000, default 100."),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page."),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, project_id: int) -> Response:
        """Logs matching `q` in [start, end), newest first, with keyset pagination."""
        project, _ = get_project_for(request, project_id)
        query, window = _query(request), _range(request)
        limit = params.parse_limit(request.query_params.get("limit"))
        cursor = params.decode_cursor(request.query_params.get("cursor"))
        page = search_logs(project.pk, query, window, limit, cursor)
        next_cursor = params.encode_cursor(page.next_cursor) if page.next_cursor else None
        return Response(
            {
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "records": page.records,
                "next_cursor": next_cursor,
            }
        )


class LogStats(ApiView):
    @extend_schema(
        parameters=[*RANGE_PARAMETERS, OpenApiParameter("top", int, description="Services listed (1-100).")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, project_id: int) -> Response:
        """Counts per level class per bucket, top services and error ratio of the logs matching `q`."""
        project, _ = get_project_for(request, project_id)
        query, window = _query(request), _range(request)
        top = params.parse_limit(request.query_params.get("top"), default=10, maximum=100)
        return Response(log_stats(project.pk, query, window, top=top))


class LogPatterns(ApiView):
    @extend_schema(
        parameters=[
            *RANGE_PARAMETERS,
            OpenApiParameter("limit", int, description="Patterns returned (1-500), default 50."),
            OpenApiParameter("sample", int, description="Newest matching rows analysed (1-100000)."),
            OpenApiParameter("order", str, enum=list(PATTERN_ORDERS), description="count (default) or new."),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, project_id: int) -> Response:
        """Messages grouped by fingerprint with count, first/last seen and an example."""
        project, _ = get_project_for(request, project_id)
        query, window = _query(request), _range(request)
        limit = params.parse_limit(request.query_params.get("limit"), default=50, maximum=500)
        sample = params.parse_limit(request.query_params.get("sample"), default=20_000, maximum=100_000)
        order = request.query_params.get("order") or "count"
        if order not in PATTERN_ORDERS:
            raise BadParameter("order", "order must be count or new.")
        report = log_patterns(project.pk, query, window, sample=sample, limit=limit, order=order)
        return Response(
            {
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "patterns": report.patterns,
                "scanned": report.scanned,
                "truncated": report.truncated,
            }
        )
