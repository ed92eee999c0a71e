"""Audit log. The one entry point for writers is `apps.audit.record(...)`."""

from typing import Any


def record(*args: Any, **kwargs: Any) -> Any:
    from apps.audit.recorder import record as _record

    return _record(*args, **kwargs)
