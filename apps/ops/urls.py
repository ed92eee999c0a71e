from django.urls import path

from apps.ops import views

app_name = "ops"
# Unprefixed, stable paths: load balancers, Kubernetes probes and Prometheus are configured with them.
urlpatterns = [
    path("health", views.health_live, name="health-live"),
    path("health/ready", views.health_ready, name="health-ready"),
    path("metrics", views.metrics_view, name="metrics"),
]
