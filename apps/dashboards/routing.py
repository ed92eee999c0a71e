"""WebSocket routes (served by Channels under config.asgi)."""

from django.urls import URLPattern, path

from apps.dashboards.consumers import ProjectLiveConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/projects/<int:project_id>/live/", ProjectLiveConsumer.as_asgi(), name="project-live"),
]
