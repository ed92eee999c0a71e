"""Audit log. The one entry point for writers is `apps.audit.record(...)`."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.audit.recorder import record
else:

    def record(*args: Any, **kwargs: Any) -> Any:
        # Imported on first call: this package loads before the app registry can import models.
        from apps.audit.recorder import record as _record

        return _record(*args, **kwargs)
