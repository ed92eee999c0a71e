"""The one exception of the ingestion pipeline; views turn it into the native JSON error shape
or an OTLP `google.rpc.Status`, in the request's encoding."""

from __future__ import annotations

from typing import Any


class IngestError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        details: Any = None,
        retry_after: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.retry_after = retry_after
        self.code = code
        self.extra_headers: dict[str, str] = {}  # e.g. the quota headers (apps.billing.quota)

    def headers(self) -> dict[str, str]:
        headers = dict(self.extra_headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers
