"""Log filters: the request id on every record, and secrets masked before anything is written."""

from __future__ import annotations

import logging
import re

from apps.ops.middleware import current_request_id

_SECRET_PATTERNS = [
    (re.compile(r"vgl_(ingest|read)_[0-9A-Za-z]{8}[0-9A-Za-z]+"), r"vgl_\1_[REDACTED]"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 [REDACTED]"),
    (
        re.compile(r"(?i)([\"']?(?:password|passwd|secret|token|api[_-]?key|authorization|cookie)[\"']?\s*[:=]\s*)"
                   r"([\"']?)[^\s\"',;&]+"),
        r"\1\2[REDACTED]",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or ""
        return True


class RedactingFilter(logging.Filter):
    """Masks API keys, bearer tokens and password=… values in the rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
