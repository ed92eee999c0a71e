"""Ingestion routes. Each is registered with and without a trailing slash, so APPEND_SLASH never
answers an exporter's POST with a redirect."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from apps.ingestion import views

app_name = "ingestion"


def _both(route: str, view: Callable[[HttpRequest], HttpResponse], name: str) -> list[URLPattern]:
    return [path(route, view, name=name), path(route + "/", view, name=f"{name}-slash")]


urlpatterns: list[URLPattern] = [
    *_both("v1/logs", views.otlp_logs, "otlp-logs"),
    *_both("v1/metrics", views.otlp_metrics, "otlp-metrics"),
    *_both("v1/traces", views.otlp_traces, "otlp-traces"),
    *_both("api/v1/ingest/logs", views.native_logs, "native-logs"),
    *_both("api/v1/ingest/metrics", views.native_metrics, "native-metrics"),
]
