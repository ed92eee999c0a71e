"""Request parameters of the log read API: limits and keyset cursors (time ranges and free text:
apps.api.timerange).

Every parser here raises BadParameter (a 400 naming the parameter and its allowed range) for any
input it cannot serve, before anything reaches the database: PostgreSQL text cannot hold NUL, and
datetime arithmetic overflows near year 1 and 9999, either of which would otherwise be a 500.

Cursor design. Results are ordered by (ts DESC, ctid DESC). logs_event has no id column, and
adding one would cost every COPY a sequence call; ctid serves as the tie-break instead because:
  * rows with the same ts always live in the same partition (the table is partitioned on ts), so
    comparing ctids only ever happens inside one partition, where it is a total order;
  * log rows are append-only (COPY, never UPDATE), so a row keeps its ctid for its lifetime, and
    retention drops whole partitions rather than deleting rows.
The one operation that renumbers ctids is a table rewrite (VACUUM FULL, CLUSTER, pg_repack) of a
partition; a cursor taken before such a rewrite may then repeat or skip rows sharing the boundary
timestamp, never others. Content-based tie-breaks (md5(message), observed_ts) are no better: two
identical lines logged in the same microsecond would collapse into one key and one would be lost.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime

import orjson

from apps.api import timerange
from apps.api.errors import BadParameter

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_TID_RE = re.compile(r"^\(\d{1,10},\d{1,5}\)$")


@dataclass(frozen=True)
class Cursor:
    ts: datetime
    ctid: str  # "(page,offset)" as PostgreSQL prints a tid


def parse_limit(value: str | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    return timerange.parse_limit(value, default=default, maximum=maximum)


def encode_cursor(cursor: Cursor) -> str:
    raw = orjson.dumps({"ts": cursor.ts.isoformat(), "ctid": cursor.ctid})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None) -> Cursor | None:
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = orjson.loads(raw)
        ts = datetime.fromisoformat(data["ts"])
        ctid = data["ctid"]
    except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise BadParameter("cursor", "cursor is not one this API returned.") from None
    if not isinstance(ctid, str) or not _TID_RE.match(ctid) or ts.tzinfo is None or not _fits_tid(ctid):
        raise BadParameter("cursor", "cursor is not one this API returned.")
    return Cursor(ts, ctid)


def _fits_tid(ctid: str) -> bool:
    page, offset = ctid.strip("()").split(",")
    return int(page) < 2**32 and int(offset) < 2**16
