"""Ingestion routes (apps.ingestion.endpoint.ROUTES). Each is registered with and without a
trailing slash, so APPEND_SLASH never answers an exporter's POST with a redirect."""

from django.urls import URLPattern, path

from apps.ingestion import views
from apps.ingestion.endpoint import ROUTES

app_name = "ingestion"

urlpatterns: list[URLPattern] = [
    path(route_path.lstrip("/"), views.ingest_view(route), name=route.name.partition(":")[2])
    for route_path, route in ROUTES.items()
]
