from django.urls import path

from apps.notifications import api, silences_api

app_name = "notifications-api"

ORG = "orgs/<int:organization_id>/alerts"
PROJECT = "projects/<int:project_id>/alerts"

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
    path(f"{PROJECT}/quieted", silences_api.QuietedList.as_view(), name="quieted"),
    path(f"{PROJECT}/silences", silences_api.SilenceList.as_view(), name="silence-list"),
    path(f"{PROJECT}/silences/<int:silence_id>", silences_api.SilenceDetail.as_view(), name="silence-detail"),
    path(f"{PROJECT}/maintenance", silences_api.MaintenanceList.as_view(), name="maintenance-list"),
    path(
        f"{PROJECT}/maintenance/<int:window_id>",
        silences_api.MaintenanceDetail.as_view(),
        name="maintenance-detail",
    ),
]
