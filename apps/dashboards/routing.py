"""WebSocket routes (served by Channels under config.asgi)."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
