"""Events into issues, and what members do with issues.

Hot path design (`event_store`): one transaction per event — look up its grouping hashes, lock
the issue row (`SELECT … FOR UPDATE`: concurrent events of one issue update its counters one after
the other, never losing an increment), insert the event (`ON CONFLICT DO NOTHING` on
(project, event_id): a retried event is counted once), update the issue with one UPDATE.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min, Sum

from apps.errors.grouping import GROUPING, Grouping, exceptions, frames_of, group, in_app_frames, message_of
from apps.errors.models import Event, GroupingHash, Issue, IssueStatus, IssueSubstatus, IssueUser

MAX_LISTED = 100  # releases and environments kept on an issue
NEW_FOR = timedelta(days=7)  # an issue is "new" for its first week, then "ongoing"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_VERSION_NUMBERS = re.compile(r"\d+")


class IssueActionRefused(Exception):
    pass


@dataclass(frozen=True)
class EventFacts:
    """What the issue and the event row need from an event payload, validated."""

    event_id: uuid.UUID
    timestamp: datetime
    level: str
    title: str
    culprit: str
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


def title_and_culprit(event: dict[str, Any]) -> tuple[str, str]:
    chain = exceptions(event)
    culprit = _text(event.get("transaction"), 255)
    if chain:
        last = chain[-1]
        kind = _text(last.get("type"), 200) or "Error"
        value = _text(last.get("value"), 1000).strip().split("\n", 1)[0]
        frames = in_app_frames(frames_of(last))
        if frames and not culprit:
            top = frames[-1]
            where = _text(top.get("module"), 200) or _text(top.get("filename"), 200)
            culprit = f"{where} in {_text(top.get('function'), 200)}".strip()
        title = f"{kind}: {value}" if value else kind
    else:
        title = message_of(event).strip().split("\n", 1)[0] or "<no message>"
    return title.replace("\x00", "")[:255], culprit[:255]


def event_facts(event: dict[str, Any], received: datetime, event_id: Any = None) -> EventFacts:
    trace = _dict(_dict(event.get("contexts")).get("trace"))
    trace_id = _text(trace.get("trace_id"), 32).lower()
    span_id = _text(trace.get("span_id"), 16).lower()
    user = _dict(event.get("user"))
    user_key = next(
        (f"{field}:{user[field]}" for field in ("id", "email", "username", "ip_address") if user.get(field)),
        "",
    )
    title, culprit = title_and_culprit(event)
    return EventFacts(
        event_id=_event_id(event.get("event_id") or event_id),
        timestamp=_timestamp(event.get("timestamp"), received),
        level=_text(event.get("level"), 16) or "error",
        title=title,
        culprit=culprit,
        release=_text(event.get("release"), 200),
        environment=_text(event.get("environment"), 64),
        platform=_text(event.get("platform"), 32),
        trace_id=trace_id if _HEX32.match(trace_id) else "",
        span_id=span_id if _HEX16.match(span_id) else "",
        user_key=user_key[:200],
    )


def event_store(project_id: int, event: dict[str, Any], received: datetime, event_id: Any = None) -> bool:
    """Group and store one event; False when it was a duplicate (nothing changed)."""
    facts = event_facts(event, received, event_id)
    grouping = group(event)
    with transaction.atomic():
        # No "already stored?" query first: the INSERT below answers it, and a duplicate (rare)
        # rolls back whatever this transaction did.
        issue, created = _issue_for(project_id, grouping, facts, received)
        with connection.cursor() as cursor:
            # One round trip: the event (ON CONFLICT: an event_id sent twice is stored once) and,
            # only if it is new, its user for the issue's "users affected".
            cursor.execute(
                "WITH stored AS ("
                " INSERT INTO errors_event (project_id, issue_id, event_id, received, timestamp, level,"
                " title, release, environment, platform, trace_id, span_id, user_key, hashes, data)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (project_id, event_id) DO NOTHING RETURNING 1"
                "), new_user AS ("
                " INSERT INTO errors_issueuser (issue_id, user_key) SELECT %s, %s"
                " WHERE %s <> '' AND EXISTS (SELECT FROM stored) ON CONFLICT DO NOTHING RETURNING 1"
                ") SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM new_user)",
                [
                    project_id,
                    issue.pk,
                    facts.event_id,
                    received,
                    facts.timestamp,
                    facts.level,
                    facts.title,
                    facts.release,
                    facts.environment,
                    facts.platform,
                    facts.trace_id,
                    facts.span_id,
                    facts.user_key,
                    _json([f"{GROUPING}:{h}" for h in (grouping.primary, grouping.secondary) if h]),
                    _json(event),
                    issue.pk,
                    facts.user_key,
                    facts.user_key,
                ],
            )
            stored, new_user = cursor.fetchone()
        if not stored:
            transaction.set_rollback(True)  # also undoes an issue made for it just now
            return False
        _issue_count(issue, facts, received, created, new_user=bool(new_user))
    return True


# An escaped NUL (`\u0000`) not itself escaped: jsonb refuses it, so it goes.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _json(value: Any) -> str:
    return _JSON_NUL.sub(r"\1", orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode())


def _issue_for(project_id: int, grouping: Grouping, facts: EventFacts, now: datetime) -> tuple[Issue, bool]:
    """The issue of these hashes, locked; made (with its hashes) when none has them yet."""
    hashes = [h for h in (grouping.primary, grouping.secondary) if h]
    # One round trip for "which issue has these hashes" and "lock it": the primary hash's issue
    # wins over the all-frames hash's; `known` tells which hashes still need a row.
    found = list(
        Issue.objects.raw(
            "SELECT i.*, h.known FROM errors_issue i JOIN ("
            " SELECT (array_agg(issue_id ORDER BY hash = %s DESC))[1] AS issue_id, array_agg(hash) AS known"
            " FROM errors_groupinghash WHERE project_id = %s AND grouping = %s AND hash = ANY(%s)"
            ") h ON i.id = h.issue_id FOR UPDATE OF i",
            [grouping.primary, project_id, GROUPING, hashes],
        )
    )
    if found:
        issue = found[0]
        missing = [h for h in hashes if h not in issue.known]  # type: ignore[attr-defined]
        if missing:
            _add_hashes(project_id, issue.pk, missing)
        return issue, False
    try:
        with transaction.atomic():
            issue = Issue.objects.create(
                project_id=project_id,
                title=facts.title,
                culprit=facts.culprit,
                level=facts.level,
                first_seen=now,
                last_seen=now,
                grouping_basis=grouping.basis,
            )
            GroupingHash.objects.bulk_create(
                [GroupingHash(project_id=project_id, hash=h, grouping=GROUPING, issue=issue) for h in hashes]
            )
    except IntegrityError:
        # Another event of the same new issue committed its hash first: join that issue.
        winner = (
            GroupingHash.objects.filter(project_id=project_id, grouping=GROUPING, hash__in=hashes)
            .values_list("issue_id", flat=True)
            .first()
        )
        if winner is None:
            raise
        return Issue.objects.select_for_update().get(pk=winner), False
    return issue, True


def _add_hashes(project_id: int, issue_id: int, hashes: list[str]) -> None:
    GroupingHash.objects.bulk_create(
        [GroupingHash(project_id=project_id, hash=h, grouping=GROUPING, issue_id=issue_id) for h in hashes],
        ignore_conflicts=True,
    )


def _issue_count(issue: Issue, facts: EventFacts, now: datetime, created: bool, new_user: bool) -> None:
    fields = ["event_count", "last_seen"]
    issue.event_count += 1
    issue.last_seen = max(issue.last_seen, now)
    for name, value in (("releases", facts.release), ("environments", facts.environment)):
        listed = getattr(issue, name)
        if value and value not in listed and len(listed) < MAX_LISTED:
            listed.append(value)
            fields.append(name)
    if new_user:
        issue.users_affected += 1
        fields.append("users_affected")
    if not created:
        fields.extend(_status_after_event(issue, facts.release, now))
    issue.save(update_fields=sorted(set(fields)))


def _status_after_event(issue: Issue, release: str, now: datetime) -> list[str]:
    if issue.status == IssueStatus.RESOLVED and regresses(issue, release):
        issue.status = IssueStatus.UNRESOLVED
        issue.substatus = IssueSubstatus.REGRESSED
        issue.resolved_at = None
        return ["status", "substatus", "resolved_at"]
    if issue.status == IssueStatus.IGNORED:
        issue.ignored_events += 1
        expired = issue.ignored_until is not None and now >= issue.ignored_until
        counted = issue.ignore_until_count is not None and issue.ignored_events >= issue.ignore_until_count
        if expired or counted:
            issue.status = IssueStatus.UNRESOLVED
            issue.substatus = IssueSubstatus.ONGOING
            return ["status", "substatus", "ignored_events"]
        return ["ignored_events"]
    if issue.substatus == IssueSubstatus.NEW and now - issue.first_seen >= NEW_FOR:
        issue.substatus = IssueSubstatus.ONGOING
        return ["substatus"]
    return []


def version_key(release: str) -> tuple[int, ...] | None:
    """`myapp@1.10.2+build7` → (1, 10, 2); None when the release names no version number."""
    version = release.rsplit("@", 1)[-1].split("+", 1)[0]
    numbers = _VERSION_NUMBERS.findall(version)
    return tuple(int(n) for n in numbers) if numbers else None


def is_older(release: str, than: str, seen: list[str]) -> bool:
    """Whether `release` predates `than`: by version numbers when both have them, else by the
    order in which the issue first saw them; a release never seen before is not older."""
    a, b = version_key(release), version_key(than)
    if a is not None and b is not None:
        return a < b
    if release in seen and than in seen:
        return seen.index(release) < seen.index(than)
    return False


def regresses(issue: Issue, release: str) -> bool:
    """A resolved issue regresses on an event from a release not older than the fix."""
    fix = issue.resolved_in_release
    if not fix or not release:
        return True  # resolved "now", or the event names no release: it happened after the fix
    if issue.resolved_in_next_release:
        # The fix ships in whatever release follows `fix`: `fix` itself and older still have the bug.
        return release != fix and not is_older(release, fix, issue.releases)
    return not is_older(release, fix, issue.releases)


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


def issue_ignore(issue: Issue, until: datetime | None = None, until_count: int | None = None) -> None:
    with transaction.atomic():
        locked = Issue.objects.select_for_update().get(pk=issue.pk)
        locked.status = IssueStatus.IGNORED
        locked.ignored_until = until
        locked.ignore_until_count = until_count
        locked.ignored_events = 0
        locked.save(update_fields=["status", "ignored_until", "ignore_until_count", "ignored_events"])
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
        locked.save()
    issue.refresh_from_db()


def issue_merge(target: Issue, others: list[Issue]) -> None:
    """Fold `others` into `target`: their events, hashes (future events follow) and users move."""
    others = [o for o in others if o.pk != target.pk and o.project_id == target.project_id]
    if not others:
        raise IssueActionRefused("Name at least one other issue of this project to merge.")
    ids = [o.pk for o in others]
    with transaction.atomic():
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
