"""WebSocket routes (served by Channels under config.asgi)."""

from django.urls import URLPattern, path

from apps.dashboards.consumers import ProjectLiveConsumer
from apps.dashboards.org_consumer import OrganizationLiveConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/projects/<int:project_id>/live/", ProjectLiveConsumer.as_asgi(), name="project-live"),
    path("ws/orgs/<int:organization_id>/live/", OrganizationLiveConsumer.as_asgi(), name="organization-live"),
]
