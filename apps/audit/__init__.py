"""Audit log.

Public surface: `apps.audit.record(...)` (the one entry point for writers), `apps.audit.Actor`
(who acts and from where, what services take instead of a request), and apps.audit.selectors
(AuditFilter, audit_events_for) for reading.
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
