from django.urls import path

from apps.alerts import api

app_name = "alerts-api"

P = "projects/<int:project_id>"

urlpatterns = [
    path(f"{P}/alerts/policies", api.PolicyList.as_view(), name="policy-list"),
    path(f"{P}/alerts/policies/<int:policy_id>", api.PolicyDetail.as_view(), name="policy-detail"),
    path(f"{P}/alerts/policies/<int:policy_id>/preview", api.PolicyPreview.as_view(), name="policy-preview"),
    path(f"{P}/alerts/preview", api.UnsavedPolicyPreview.as_view(), name="policy-preview-unsaved"),
    path(f"{P}/alerts/incidents", api.IncidentList.as_view(), name="incident-list"),
    path(f"{P}/alerts/incidents/<int:incident_id>", api.IncidentDetail.as_view(), name="incident-detail"),
    path(
        f"{P}/alerts/incidents/<int:incident_id>/ack", api.IncidentAcknowledge.as_view(), name="incident-ack"
    ),
    path(
        f"{P}/alerts/incidents/<int:incident_id>/resolve",
        api.IncidentResolve.as_view(),
        name="incident-resolve",
    ),
    path(
        "orgs/<int:organization_id>/alerts/summary",
        api.OrganizationAlertSummary.as_view(),
        name="organization-summary",
    ),
    path(f"{P}/heartbeats", api.HeartbeatList.as_view(), name="heartbeat-list"),
    path(f"{P}/heartbeats/<int:heartbeat_id>", api.HeartbeatDetail.as_view(), name="heartbeat-detail"),
]
