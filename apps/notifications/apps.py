from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"

    def ready(self) -> None:
        from apps.alerts.signals import outbox_written
        from apps.notifications import tasks

        outbox_written.connect(tasks.dispatch_soon, dispatch_uid="notifications_dispatch_soon")
