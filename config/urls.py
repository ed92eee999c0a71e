from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.projects.tenant_admin import tenant_admin_site

urlpatterns = [
    path("", include("apps.ingestion.urls")),  # first: ingestion paths must never be shadowed or redirected
    path("", include("apps.ops.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.projects.urls")),
    path("", include("apps.dashboards.urls")),
    path("", include("apps.alerts.urls")),
    path("", include("apps.billing.urls")),
    path("", include("apps.notifications.urls")),
    path("", include("apps.errors.page_urls")),
    path("api/v1/", include("apps.projects.api_urls")),
    path("api/v1/", include("apps.logs.urls")),
    path("api/v1/", include("apps.metrics.urls")),
    path("api/v1/", include("apps.traces.urls")),
    path("api/v1/", include("apps.alerts.api_urls")),
    path("api/v1/", include("apps.billing.api_urls")),
    path("api/v1/", include("apps.notifications.api_urls")),
    path("api/v1/", include("apps.errors.urls")),
    path("api/0/", include("apps.errors.sentry_urls")),  # sentry-cli's release files
    path("api/schema/", login_not_required(SpectacularAPIView.as_view()), name="api-schema"),
    path(
        "api/docs/",
        # The split view serves Swagger UI's start-up script as a file: our CSP allows no inline script.
        login_not_required(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html")
        ),
        name="api-docs",
    ),
    path("admin/", admin.site.urls),
    path("manage/", tenant_admin_site.urls),
]

handler404 = "apps.ops.views.not_found"
handler403 = "apps.ops.views.forbidden"
handler500 = "apps.ops.views.server_error"
