"""Audit log: the append-only AuditEvent and its one entry point for writers.

Public surface (what other apps may import; nothing else of this app):
  apps.audit                record(action, by=..., ...), Actor (who acts and from where: what
                            services take instead of the HttpRequest)
  apps.audit.selectors      AuditFilter, audit_events_for
  apps.audit.models         AuditEvent (shown read-only by the tenant admin)
  apps.audit.views          audit_log, audit_export (routed under an organization's pages)
"""

from typing import TYPE_CHECKING, Any

from apps.audit.actor import Actor

__all__ = ["Actor", "record"]

if TYPE_CHECKING:
    from apps.audit.recorder import record
else:

    def record(*args: Any, **kwargs: Any) -> Any:
        # Imported on first call: this package loads before the app registry can import models.
        from apps.audit.recorder import record as _record

        return _record(*args, **kwargs)
