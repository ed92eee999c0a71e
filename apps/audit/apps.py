from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"

    def ready(self) -> None:
        from apps.audit import roles

        # After every migrate (and the test database's creation): the runtime role's grants.
        post_migrate.connect(roles.runtime_role_grant, sender=self, dispatch_uid="audit_runtime_role")
