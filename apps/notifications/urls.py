from django.urls import path

from apps.notifications import pages, views

app_name = "notifications"

urlpatterns = [
    path("notify/action/<str:token>", views.action, name="action"),
    path("orgs/<int:organization_id>/channels/", pages.channel_list, name="channels"),
    path("orgs/<int:organization_id>/channels/new/", pages.channel_new, name="channel-new"),
    path(
        "orgs/<int:organization_id>/channels/<int:channel_id>/test/", pages.channel_test, name="channel-test"
    ),
    path(
        "orgs/<int:organization_id>/channels/<int:channel_id>/delete/",
        pages.channel_delete,
        name="channel-delete",
    ),
]
