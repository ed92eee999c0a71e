"""Events into rows, and what members do with issues.

Hot path: the endpoint turns each event into an `EventRow` (`event_row`: validated facts and the
grouping hashes, computed once, here) and stores them with one COPY (apps.errors.storage);
apps.errors.grouper then folds them into issues in batches. `event_store` does both at once for
one event (tests, demo data).

Every issue action takes the issue's row lock, and a merge or a split also takes the project's
grouping lock (grouper.lock_project): a batch being grouped never sees hashes or issues move
under it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import Exists, Max, Min, OuterRef, QuerySet, Sum

from apps.errors import grouper, retention, sourcemaps, storage
from apps.errors.grouper import MAX_LISTED, title_and_culprit, title_of
from apps.errors.grouping import GROUPING, group
from apps.errors.models import (
    Event,
    GroupingHash,
    Issue,
    IssueHour,
    IssueStatus,
    IssueSubstatus,
    IssueUser,
    PendingEvent,
)

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


class IssueActionRefused(Exception):
    pass


@dataclass(slots=True)  # (not frozen: built for every event, and frozen's __init__ costs ~60 % more)
class EventFacts:
    """What the issue and the event row need from an event payload, validated."""

    event_id: uuid.UUID
    timestamp: datetime
    level: str
    title: str
    release: str
    environment: str
    platform: str
    trace_id: str
    span_id: str
    user_key: str


def _text(value: Any, limit: int) -> str:
    # PostgreSQL text cannot hold NUL: SDKs do send it (C strings, binary data in messages).
    return value[:limit].replace("\x00", "") if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _event_id(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(value) if isinstance(value, str) else uuid.uuid4()
    except ValueError:
        return uuid.uuid4()


def _timestamp(value: Any, received: datetime) -> datetime:
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    return received


def event_facts(event: dict[str, Any], received: datetime, event_id: Any = None) -> EventFacts:
    trace = _dict(_dict(event.get("contexts")).get("trace"))
    trace_id = _text(trace.get("trace_id"), 32).lower()
    span_id = _text(trace.get("span_id"), 16).lower()
    user = _dict(event.get("user"))
    user_key = next(
        (f"{field}:{user[field]}" for field in ("id", "email", "username", "ip_address") if user.get(field)),
        "",
    )
    return EventFacts(
        event_id=_event_id(event.get("event_id") or event_id),
        timestamp=_timestamp(event.get("timestamp"), received),
        level=_text(event.get("level"), 16) or "error",
        title=title_of(event),
        release=_text(event.get("release"), 200),
        environment=_text(event.get("environment"), 64),
        platform=_text(event.get("platform"), 32),
        trace_id=trace_id if _HEX32.match(trace_id) else "",
        span_id=span_id if _HEX16.match(span_id) else "",
        user_key=user_key[:200],
    )


def event_row(
    project_id: int,
    event: dict[str, Any],
    received: datetime,
    event_id: Any = None,
    lookups: bool = True,
    raw: bytes | None = None,
) -> storage.EventRow:
    """The row an event is stored as, with its grouping hashes (the CPU-heavy part of grouping,
    done once, in the request; the grouper only maps hashes onto issues). `raw` is the JSON text
    `event` was parsed from: stored as it came unless symbolication may have changed the event
    (serialising 6 KiB again cost ~4 % of a worker). Without `lookups`, an event that needs
    symbolication raises sourcemaps.NeedsLookup (no I/O is done here then)."""
    # Minified JS frames → original ones.
    sourcemap_epoch = sourcemaps.symbolicate(project_id, event, lookups)
    facts = event_facts(event, received, event_id)
    grouping = group(event)
    hashes = [f"{GROUPING}:{h}" for h in (grouping.primary, grouping.secondary) if h]
    text = _json(event) if raw is None or sourcemap_epoch is not None else _no_nul(raw)
    return storage.EventRow(
        project_id=project_id,
        event_id=facts.event_id,
        received=received,
        timestamp=facts.timestamp,
        level=facts.level,
        title=facts.title,
        release=facts.release,
        environment=facts.environment,
        platform=facts.platform,
        trace_id=facts.trace_id,
        span_id=facts.span_id,
        user_key=facts.user_key,
        hashes=orjson.dumps(hashes),
        data=storage.data_encode(text),
        primary=grouping.primary,
        secondary=grouping.secondary or "",
        sourcemap_epoch=sourcemap_epoch,
    )


def event_store(project_id: int, event: dict[str, Any], received: datetime, event_id: Any = None) -> bool:
    """Store one event and group it at once; False when it was a duplicate (nothing changed)."""
    stored = storage.events_write([event_row(project_id, event, received, event_id)])
    if stored:
        grouper.drain(project_id)
    return bool(stored)


# An escaped NUL (`\u0000`) not itself escaped: jsonb refuses it, so it goes.
_JSON_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def _json(value: Any) -> bytes:
    return _no_nul(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def _no_nul(data: bytes) -> bytes:
    """JSON text without escaped NULs: events read back as they always did (jsonb refused NULs),
    and the way back to jsonb (migration 0011) stays open."""
    # The regex costs ~20 % of a request's CPU on a 9 KiB event; a substring test almost nothing.
    return _JSON_NUL.sub(rb"\1", data) if b"\\u0000" in data else data


def issue_resolve(issue: Issue, in_release: str = "", in_next_release: bool = False) -> None:
    if in_next_release:
        if not issue.releases:
            raise IssueActionRefused("This issue has no release yet: resolve it without “in next release”.")
        in_release = issue.releases[-1]
    with transaction.atomic():
        locked = Issue.objects.select_for_update().get(pk=issue.pk)
        locked.status = IssueStatus.RESOLVED
        locked.resolved_at = datetime.now(UTC)
        locked.resolved_in_release = in_release
        locked.resolved_in_next_release = in_next_release
        locked.save(
            update_fields=["status", "resolved_at", "resolved_in_release", "resolved_in_next_release"]
        )
    issue.refresh_from_db()


IGNORE_WINDOW_SECONDS = (60, 7 * 24 * 3600)  # "N events in a window": a minute to a week


def issue_ignore(
    issue: Issue,
    until: datetime | None = None,
    until_count: int | None = None,
    window_seconds: int | None = None,
) -> None:
    """Ignore for good, until a time, until `until_count` more events, or until that many within
    `window_seconds` (whole minutes; counted per minute)."""
    if window_seconds is not None:
        low, high = IGNORE_WINDOW_SECONDS
        if until_count is None or not low <= window_seconds <= high:
            raise IssueActionRefused("A window needs until_count, and lasts a minute to a week.")
        window_seconds -= window_seconds % 60
    with transaction.atomic():
        locked = Issue.objects.select_for_update().get(pk=issue.pk)
        locked.status = IssueStatus.IGNORED
        locked.ignored_until = until
        locked.ignore_until_count = until_count
        locked.ignored_events = 0
        locked.ignore_window_seconds = window_seconds
        locked.ignore_window_counts = {}
        locked.save(
            update_fields=[
                "status",
                "ignored_until",
                "ignore_until_count",
                "ignored_events",
                "ignore_window_seconds",
                "ignore_window_counts",
            ]
        )
    issue.refresh_from_db()


def issue_unresolve(issue: Issue) -> None:
    with transaction.atomic():
        locked = Issue.objects.select_for_update().get(pk=issue.pk)
        locked.status = IssueStatus.UNRESOLVED
        locked.substatus = IssueSubstatus.ONGOING
        locked.resolved_at = None
        locked.resolved_in_release = ""
        locked.resolved_in_next_release = False
        locked.ignored_until = None
        locked.ignore_until_count = None
        locked.ignore_window_seconds = None
        locked.ignore_window_counts = {}
        locked.save()
    issue.refresh_from_db()


def issue_merge(target: Issue, others: list[Issue]) -> None:
    """Fold `others` into `target`: their events, hashes (future events follow) and users move."""
    others = [o for o in others if o.pk != target.pk and o.project_id == target.project_id]
    if not others:
        raise IssueActionRefused("Name at least one other issue of this project to merge.")
    ids = [o.pk for o in others]
    with transaction.atomic():
        with connection.cursor() as cursor:
            grouper.lock_project(cursor, target.project_id)  # no batch is grouped meanwhile
        # Lock in id order: two merges of overlapping issues cannot deadlock.
        locked = {
            i.pk: i for i in Issue.objects.select_for_update().filter(pk__in=[target.pk, *ids]).order_by("pk")
        }
        keep = locked[target.pk]
        Event.objects.filter(issue_id__in=ids).update(issue=keep)
        GroupingHash.objects.filter(issue_id__in=ids).update(issue=keep)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO errors_issueuser (issue_id, user_key) SELECT %s, user_key FROM errors_issueuser"
                " WHERE issue_id = ANY(%s) ON CONFLICT DO NOTHING",
                [keep.pk, ids],
            )
            cursor.execute(
                "INSERT INTO errors_issuehour (issue_id, hour, events)"
                " SELECT %s, hour, sum(events) FROM errors_issuehour WHERE issue_id = ANY(%s) GROUP BY hour"
                " ON CONFLICT (issue_id, hour)"
                " DO UPDATE SET events = errors_issuehour.events + EXCLUDED.events",
                [keep.pk, ids],
            )
        totals = Issue.objects.filter(pk__in=[keep.pk, *ids]).aggregate(
            count=Sum("event_count"), first=Min("first_seen"), last=Max("last_seen")
        )
        for other in (locked[i] for i in ids if i in locked):
            keep.releases = (keep.releases + [r for r in other.releases if r not in keep.releases])[
                :MAX_LISTED
            ]
            keep.environments = (
                keep.environments + [e for e in other.environments if e not in keep.environments]
            )[:MAX_LISTED]
        keep.event_count = totals["count"]
        keep.first_seen = totals["first"]
        keep.last_seen = totals["last"]
        keep.users_affected = IssueUser.objects.filter(issue=keep).count()
        keep.save()
        Issue.objects.filter(pk__in=ids).delete()
    target.refresh_from_db()


def issue_split(issue: Issue, hashes: list[str]) -> Issue:
    """Split off the events whose primary grouping hash is one of `hashes` ("vigil-v1:<hex>", as
    `selectors.issue_hashes` lists them) into a new issue, which their future events join too.
    Counts move with the events: the new issue has the moved events' count, users, releases and
    hours; the old one keeps its history less what moved. Refused when none of the hashes is this
    issue's, no stored event has them, or no event would be left."""
    prefix = f"{GROUPING}:"
    values = sorted({h.removeprefix(prefix) for h in hashes if h.startswith(prefix)})
    with transaction.atomic():
        with connection.cursor() as cursor:
            grouper.lock_project(cursor, issue.project_id)  # no batch is grouped meanwhile
        grouper.settle(issue.project_id)  # every event stored so far counted, and given its issue
        old = Issue.objects.select_for_update().get(pk=issue.pk)
        mine = GroupingHash.objects.filter(project_id=old.project_id, grouping=GROUPING, issue=old)
        owned = list(mine.filter(hash__in=values).values_list("hash", flat=True))
        if not owned:
            raise IssueActionRefused("None of these hashes groups events into this issue.")
        moving = _events(old).filter(hashes__0__in=[prefix + h for h in owned])
        newest = moving.order_by("-pk").values("level", "data").first()
        if newest is None:
            raise IssueActionRefused("No stored event of this issue has these hashes.")
        data = newest["data"] if isinstance(newest["data"], dict) else {}
        title, culprit = title_and_culprit(data)
        now = datetime.now(UTC)
        new = Issue.objects.create(
            project_id=old.project_id,
            title=title,
            culprit=culprit,
            level=newest["level"],
            first_seen=now,
            last_seen=now,
            grouping_basis=group(data).basis,
        )
        moved = moving.update(issue=new)
        if not _events(old).exists():
            raise IssueActionRefused("Every stored event of this issue has these hashes: none would be left.")
        mine.filter(hash__in=owned).update(issue=new)
        with connection.cursor() as cursor:
            _split_counts(cursor, old, new, moved)
    issue.refresh_from_db()
    return new


def _events(issue: Issue) -> QuerySet[Event]:
    """The issue's counted events. One a writer stored after `grouper.settle` (stored with its
    issue, still pending) stays out of a split's counts and moves: the grouper counts it next,
    into whichever issue its hash belongs to by then."""
    pending = PendingEvent.objects.filter(event=OuterRef("pk"))
    return Event.objects.filter(issue=issue, project_id=issue.project_id).exclude(Exists(pending))


_COUNTED = "NOT EXISTS (SELECT FROM errors_pendingevent p WHERE p.event = errors_event.id)"
# The other hashes (all-frames ones) that only the moved events have follow them.
_SPLIT_HASHES = f"""
UPDATE errors_groupinghash SET issue_id = %(new)s
WHERE project_id = %(project)s AND issue_id = %(old)s AND grouping = %(grouping)s AND hash IN (
    SELECT split_part(h, ':', 2) FROM errors_event, jsonb_array_elements_text(hashes) h
    WHERE issue_id = %(new)s AND project_id = %(project)s AND {_COUNTED}
    EXCEPT
    SELECT split_part(h, ':', 2) FROM errors_event, jsonb_array_elements_text(hashes) h
    WHERE issue_id = %(old)s AND project_id = %(project)s AND {_COUNTED})
"""  # noqa: S608 (constants only)
# The moved events' users join the new issue, and leave the old one unless it still has them.
_SPLIT_USERS = f"""
WITH users AS (
    SELECT DISTINCT user_key FROM errors_event
    WHERE issue_id = %(new)s AND project_id = %(project)s AND user_key <> '' AND {_COUNTED}
), gone AS (
    DELETE FROM errors_issueuser WHERE issue_id = %(old)s AND user_key IN (
        SELECT user_key FROM users
        EXCEPT SELECT user_key FROM errors_event
        WHERE issue_id = %(old)s AND project_id = %(project)s AND {_COUNTED})
)
INSERT INTO errors_issueuser (issue_id, user_key) SELECT %(new)s, user_key FROM users
"""  # noqa: S608 (constants only)
_SPLIT_HOURS = f"""
INSERT INTO errors_issuehour (issue_id, hour, events)
SELECT issue_id, date_trunc('hour', received), count(*) FROM errors_event
WHERE issue_id IN (%(new)s, %(old)s) AND project_id = %(project)s AND received >= %(since)s AND {_COUNTED}
GROUP BY 1, 2
"""  # noqa: S608 (constants only)


def _split_counts(cursor: Any, old: Issue, new: Issue, moved: int) -> None:
    """After the events moved (both issue rows locked): hashes, users, hours and the counters."""
    since = datetime.now(UTC) - timedelta(days=retention.ISSUE_HOURS_DAYS)
    names = {"new": new.pk, "old": old.pk, "project": old.project_id, "grouping": GROUPING, "since": since}
    cursor.execute(_SPLIT_HASHES, names)
    cursor.execute(_SPLIT_USERS, names)
    IssueHour.objects.filter(issue_id__in=[old.pk, new.pk]).delete()
    cursor.execute(_SPLIT_HOURS, names)
    span = _events(new).aggregate(first=Min("received"), last=Max("received"))
    new.first_seen, new.last_seen, new.event_count = span["first"], span["last"], moved
    old.last_seen = _events(old).aggregate(last=Max("received"))["last"]
    old.event_count = max(0, old.event_count - moved)
    for issue in (old, new):
        issue.users_affected = IssueUser.objects.filter(issue=issue).count()
    for name, field in (("releases", "release"), ("environments", "environment")):
        seen = _events(new).exclude(**{field: ""}).order_by(field).values_list(field, flat=True).distinct()
        setattr(new, name, list(seen[:MAX_LISTED]))
    old.save()
    new.save()


def discards_count(project_id: int, report: dict[str, Any], day: datetime) -> int:
    """Add a `client_report`'s discarded events to the per-day counters; returns how many."""
    total = 0
    for entry in report.get("discarded_events") or []:
        if not isinstance(entry, dict):
            continue
        quantity = entry.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            continue
        reason = _text(entry.get("reason"), 64) or "unknown"
        category = _text(entry.get("category"), 32) or "unknown"
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO errors_sdkdiscard (project_id, day, reason, category, quantity)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (project_id, day, reason, category)"
                " DO UPDATE SET quantity = errors_sdkdiscard.quantity + EXCLUDED.quantity",
                [project_id, day.date(), reason, category, quantity],
            )
        total += quantity
    return total
