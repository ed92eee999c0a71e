from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "apps.ops"
    label = "ops"

    def ready(self) -> None:
        # Connects the Celery task instrumentation hooks (see the design note in apps/ops/metrics.py).
        from apps.ops import metrics  # noqa: F401
