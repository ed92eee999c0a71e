from django.urls import re_path

from apps.billing import api

urlpatterns = [
    re_path(r"^orgs/(?P<organization_id>\d+)/usage/?$", api.UsageView.as_view(), name="api-usage"),
    re_path(
        r"^projects/(?P<project_id>\d+)/spike-protection/?$",
        api.SpikeProtectionView.as_view(),
        name="api-spike-protection",
    ),
    re_path(r"^billing/webhook/?$", api.provider_webhook, name="api-provider-webhook"),
]
