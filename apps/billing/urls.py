from django.urls import path

from apps.billing import views

app_name = "billing"

urlpatterns = [
    path("orgs/<int:organization_id>/usage/", views.usage_page, name="usage"),
    path("orgs/<int:organization_id>/usage/statements.csv", views.statements_download, name="statements-csv"),
    path(
        "orgs/<int:organization_id>/usage/spike-protection/<int:project_id>",
        views.spike_protection_toggle,
        name="spike-protection",
    ),
]
