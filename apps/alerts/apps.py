from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "apps.alerts"
    label = "alerts"

    def ready(self) -> None:
        from apps.alerts import error_kinds
        from apps.errors.signals import issues_changed

        issues_changed.connect(error_kinds.policies_due_now, dispatch_uid="alerts_issue_policies_due")
