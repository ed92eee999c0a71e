from django.urls import path

from apps.notifications import api

app_name = "notifications-api"

ORG = "orgs/<int:organization_id>/alerts"

urlpatterns = [
    path(f"{ORG}/channels", api.ChannelList.as_view(), name="channel-list"),
    path(f"{ORG}/channels/<int:channel_id>", api.ChannelDetail.as_view(), name="channel-detail"),
    path(f"{ORG}/channels/<int:channel_id>/test", api.ChannelTest.as_view(), name="channel-test"),
    path(
        f"{ORG}/channels/<int:channel_id>/rotate-secret",
        api.ChannelRotateSecret.as_view(),
        name="channel-rotate-secret",
    ),
    path(
        f"{ORG}/channels/<int:channel_id>/deliveries",
        api.ChannelDeliveries.as_view(),
        name="channel-deliveries",
    ),
    path(f"{ORG}/routes", api.RouteList.as_view(), name="route-list"),
    path(f"{ORG}/routes/<int:route_id>", api.RouteDetail.as_view(), name="route-detail"),
]
