"""Log filters: the request id on every record, and secrets masked before anything is written.

Design note: the JSON formatter writes the message, the traceback and every ``extra=`` field,
so the redaction covers all three. Non-JSON extras (Django attaches the request object to
``django.request`` records, whose repr carries the query string) are rendered to masked text
here, since the formatter would only ``str()`` them anyway.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from celery import signals as celery_signals

from apps.ops.middleware import current_request_id

REDACTED = "[REDACTED]"
_SENSITIVE_NAMES = r"(?:password|passwd|secret(?:[_-]?key)?|token|api[_-]?key|authorization|cookie)"
_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Credentials after an auth scheme first, so "Bearer vgl_…" is masked whole.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"vgl_(ingest|read|manage)_[0-9A-Za-z]{8}[0-9A-Za-z]+"), r"vgl_\1_" + REDACTED),
    (
        # key=value, key: value, "key": "value with spaces" — the key is kept, the value masked.
        re.compile(
            r"(?i)([\"']?" + _SENSITIVE_NAMES + r"[\"']?\s*[:=]\s*)"
            r"(?:\"[^\"]*\"|'[^']*'|(?!\[REDACTED\]|(?:bearer|basic)\s)[^\s\"',;&]+)"
        ),
        r"\1" + REDACTED,
    ),
]
_SENSITIVE_KEY = re.compile(r"(?i)" + _SENSITIVE_NAMES)
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_traceback_formatter = logging.Formatter()


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """Masks secrets inside strings, dicts and lists; other objects become their masked str()."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            key: REDACTED if _SENSITIVE_KEY.search(str(key)) else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return redact(str(value))


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id()
        if not request_id:
            # django.request logs 4xx/5xx after the middleware chain has returned (the context
            # variable is reset by then), but it attaches the request, which carries the id.
            request_id = getattr(getattr(record, "request", None), "request_id", None)
        record.request_id = request_id or ""
        return True


class RedactingFilter(logging.Filter):
    """Masks API keys, bearer/basic credentials and password=… values in everything the formatter writes.

    Must run after RequestIdFilter: it replaces the ``request`` extra with its masked text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            # python-json-logger formats exc_info itself and only falls back to exc_text without it.
            record.exc_text = redact(_traceback_formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name in _RECORD_ATTRS or name == "request_id":
                continue
            setattr(record, name, REDACTED if _SENSITIVE_KEY.search(name) else redact_value(value))
        return True


@celery_signals.setup_logging.connect(dispatch_uid="vigil.ops.logging.keep_django_logging")
def keep_django_logging(**_: Any) -> None:
    """Celery workers keep settings.LOGGING (JSON, request id, redaction) instead of installing their
    own plain-text root handler: having any receiver for this signal tells Celery to leave logging alone.
    The worker sets Django up (and so imports this module) before it sends the signal."""
