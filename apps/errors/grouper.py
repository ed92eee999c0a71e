"""Stored events into issues, in batches: the second half of the Sentry hot path.

Design note. The endpoint acknowledges an event once it is durably stored: its errors_event row,
with the issue its hashes already map to when the writer's process knows it (apps.errors.hashmap),
and a narrow errors_pendingevent row in the same transaction (apps.errors.storage). Counting it
into its issue then runs per project, one batch per transaction (`group_pending`):
  1. take the project's grouping lock (a transaction-scoped advisory lock): one grouper per
     project at a time, so hash lookups, issue creation and counters never race each other, and
     `services.issue_merge`/`issue_split` take the same lock before they move hashes and events;
  2. take up to ERRORS_GROUP_BATCH pending rows, oldest first (DELETE … RETURNING);
  3. map their hashes onto issues with one query, create the issues of unknown hashes;
  4. lock the touched issues (`FOR UPDATE`, in id order like every other issue writer; only the
     columns grouping uses, no model instances), apply the events to them one by one in memory —
     regressions, ignore until a time or N events, new → ongoing;
  5. give the events stored without their issue (new hashes) or with another one (a merge or
     split moved the hash since) their issue — nearly always none: an event's row is written
     once — and add the batch to the issues' hourly counters and new users (INSERT … ON CONFLICT);
  6. write each issue back once with a single `UPDATE … FROM json_to_recordset(…)`, and COMMIT.
All of it is one transaction: a crash anywhere in it (a killed worker) rolls back the counters
*and* the taking of the pending rows together, and the next run takes them again — never counted
twice, never lost.

Who runs it: a `Batcher` thread in each web process, woken after each COMMIT of events
(apps.errors.commit), gathers for ERRORS_GROUP_DELAY_MS and drains the notified projects; every
ERRORS_GROUP_SWEEP_SECONDS it also sweeps every project with pending events (what a killed
process left behind), and Celery beat does the same every minute (`tasks.group_pending`), so
events are counted even when no web process is up. The gathering is 250 ms by default: over a
hot set of 1,000 issues a batch of ~250 events writes an issue row and an hourly counter for
0.9 of its events, one of ~1,000 for 0.63, and shares its statements among more events —
71 → 56 µs of CPU per event in bench/errors_cpu.py (256 → 1,024 events a batch).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from psycopg.types.datetime import TimestamptzLoader

from apps.errors import hashmap, signals, storage
from apps.errors.grouping import GROUPING, exceptions, frames_of, group, in_app_frames, message_of
from apps.errors.models import GroupingHash, Issue, IssueStatus, IssueSubstatus
from apps.projects.models import Project

logger = logging.getLogger(__name__)

LOCK_CLASS = 0x5647_4552  # "VGER": the advisory-lock class of "grouping of one project"

MAX_LISTED = 100  # releases and environments kept on an issue
NEW_FOR = timedelta(days=7)  # an issue is "new" for its first week, then "ongoing"
_VERSION_NUMBERS = re.compile(r"\d+")


@dataclass(slots=True)
class IssueState:
    """An issue as grouping reads and writes it: the columns of errors_issue its rules use, and
    no more. Loaded by one query per batch (`_lock_issues`) instead of a model instance per issue:
    with a hot set of 1,000 issues nearly every event of a batch touches an issue of its own, and
    the ORM's loading was 7 % of a worker's samples."""

    pk: int
    status: str
    substatus: str
    first_seen: datetime
    last_seen: datetime
    event_count: int
    users_affected: int
    releases: list[str]
    environments: list[str]
    resolved_at: datetime | None
    resolved_in_release: str
    resolved_in_next_release: bool
    ignored_until: datetime | None
    ignore_until_count: int | None
    ignored_events: int
    ignore_window_seconds: int | None
    ignore_window_counts: dict[str, int]
    regressed_at: datetime | None
    unignored_at: datetime | None


# errors_issue's columns in IssueState's order (its `pk` is the column `id`).
_LOCK_ISSUES = (
    f"SELECT {', '.join('id' if f.name == 'pk' else f.name for f in fields(IssueState))}"  # noqa: S608
    " FROM errors_issue WHERE id = ANY(string_to_array(%s, ',')::bigint[]) ORDER BY id FOR UPDATE"
)


def _text(value: Any, limit: int) -> str:
    # PostgreSQL text cannot hold NUL: SDKs do send it (C strings, binary data in messages).
    return value[:limit].replace("\x00", "") if isinstance(value, str) else ""


def title_and_culprit(event: dict[str, Any]) -> tuple[str, str]:
    chain = exceptions(event)
    culprit = _text(event.get("transaction"), 255)
    if chain and not culprit:
        frames = in_app_frames(frames_of(chain[-1]))
        if frames:
            top = frames[-1]
            where = _text(top.get("module"), 200) or _text(top.get("filename"), 200)
            culprit = f"{where} in {_text(top.get('function'), 200)}".strip()
    return title_of(event, chain), culprit[:255]


def title_of(event: dict[str, Any], chain: list[dict[str, Any]] | None = None) -> str:
    """The event's title (`chain`: its `exceptions`, when the caller has them already)."""
    chain = exceptions(event) if chain is None else chain
    if chain:
        last = chain[-1]
        kind = _text(last.get("type"), 200)
        value = _text(last.get("value"), 1000).strip().split("\n", 1)[0]
        # No type: a message sent with a stack (the JS SDKs' attachStacktrace) reads as the message.
        title = f"{kind}: {value}" if kind and value else kind or value or "Error"
    else:
        title = message_of(event).strip().split("\n", 1)[0] or "<no message>"
    return title.replace("\x00", "")[:255]


def apply_event(issue: IssueState, release: str, environment: str, now: datetime, created: bool) -> None:
    """One more event of `issue` (in memory; the caller writes the issue back): counts, releases,
    environments, and unless the event made the issue, what it does to the issue's status."""
    issue.event_count += 1
    issue.last_seen = max(issue.last_seen, now)
    for name, value in (("releases", release), ("environments", environment)):
        listed = getattr(issue, name)
        if value and value not in listed and len(listed) < MAX_LISTED:
            listed.append(value)
    if not created:
        status_after_event(issue, release, now)


def status_after_event(issue: IssueState, release: str, now: datetime) -> None:
    if issue.status == IssueStatus.RESOLVED and regresses(issue, release):
        issue.status = IssueStatus.UNRESOLVED
        issue.substatus = IssueSubstatus.REGRESSED
        issue.resolved_at = None
        issue.regressed_at = now  # read by the issue_regression alert kind
    elif issue.status == IssueStatus.IGNORED:
        issue.ignored_events += 1
        expired = issue.ignored_until is not None and now >= issue.ignored_until
        limit = issue.ignore_until_count
        counted = limit is not None and ignored_count(issue, now) >= limit
        if expired or counted:
            issue.status = IssueStatus.UNRESOLVED
            issue.substatus = IssueSubstatus.ONGOING
            issue.unignored_at = now  # read by the issue_unignored alert kind
    elif issue.substatus == IssueSubstatus.NEW and now - issue.first_seen >= NEW_FOR:
        issue.substatus = IssueSubstatus.ONGOING


def ignored_count(issue: IssueState, now: datetime) -> int:
    """Events since the issue was ignored — or, with a window, within the window, counted per
    minute (minutes that left the window are forgotten as events arrive)."""
    if issue.ignore_window_seconds is None:
        return issue.ignored_events
    minute = int(now.timestamp()) // 60
    oldest = minute - issue.ignore_window_seconds // 60 + 1
    counts = {k: n for k, n in (issue.ignore_window_counts or {}).items() if int(k) >= oldest}
    counts[str(minute)] = counts.get(str(minute), 0) + 1
    issue.ignore_window_counts = counts
    return sum(counts.values())


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


def regresses(issue: IssueState, release: str) -> bool:
    """A resolved issue regresses on an event from a release not older than the fix."""
    fix = issue.resolved_in_release
    if not fix or not release:
        return True  # resolved "now", or the event names no release: it happened after the fix
    if issue.resolved_in_next_release:
        # The fix ships in whatever release follows `fix`: `fix` itself and older still have the bug.
        return release != fix and not is_older(release, fix, issue.releases)
    return not is_older(release, fix, issue.releases)


@dataclass(slots=True)
class Pending:
    """An event its issue has not counted yet (its errors_pendingevent row): what grouping needs
    of it — never its payload, but for a new issue. `stored_with` is the issue it was stored with
    (None: its hashes had none); `issue` the one grouping gives it."""

    id: int
    received: datetime
    stored_with: int | None
    level: str
    primary: str
    secondary: str
    release: str
    environment: str
    user_key: str
    issue: int = 0


def lock_project(cursor: Any, project_id: int) -> None:
    """Serialise with every grouper of this project until the end of the caller's transaction."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, project_id & 0x7FFF_FFFF])


def group_pending(project_id: int, limit: int | None = None) -> int:
    """Count up to `limit` of the project's pending events into their issues; returns how many."""
    with transaction.atomic(), connection.cursor() as cursor:
        lock_project(cursor, project_id)
        grouped, changes, by_hash = _group(cursor, project_id, limit or settings.ERRORS_GROUP_BATCH)
    hashmap.learn(project_id, by_hash)
    if changes:
        _announce(project_id, changes)
    return grouped


def settle(project_id: int) -> None:
    """Count every pending event of the project, in the caller's transaction, which holds the
    project's lock (`lock_project`): a split then sees each stored event counted. Alert listeners
    hear of what it changed once that transaction commits."""
    changes: set[str] = set()
    with connection.cursor() as cursor:
        while True:
            grouped, found, _ = _group(cursor, project_id, settings.ERRORS_GROUP_BATCH)
            changes |= found
            if grouped < settings.ERRORS_GROUP_BATCH:
                break
    if changes:
        transaction.on_commit(lambda: _announce(project_id, frozenset(changes)))


def _group(cursor: Any, project_id: int, limit: int) -> tuple[int, frozenset[str], dict[str, int]]:
    """One batch, under the project's lock: how many events it counted, what it changed that
    alerts watch, and the hashes it mapped (for the process's map, after the COMMIT)."""
    _fast_times(cursor)
    events = _claim(cursor, project_id, limit)
    if not events:
        return 0, frozenset(), {}
    by_hash, creators = _issues_of(cursor, project_id, events)
    issues = _lock_issues(cursor, {event.issue for event in events})
    before = {pk: (issue.regressed_at, issue.unignored_at) for pk, issue in issues.items()}
    for event in events:
        apply_event(
            issues[event.issue], event.release, event.environment, event.received, event.id in creators
        )
    _record(cursor, project_id, events, issues)
    _write_issues(cursor, issues)
    return len(events), _changes(creators, issues, before), by_hash


def _fast_times(cursor: Any) -> None:
    """psycopg's own (C) timestamptz loader on this cursor: Django registers a Python subclass of
    it on every connection, which parsed each timestamp in Python — a quarter of the grouper's
    CPU (py-spy) for the claimed events' and locked issues' times."""
    cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)


def _changes(
    creators: set[int],
    issues: dict[int, IssueState],
    before: dict[int, tuple[datetime | None, datetime | None]],
) -> frozenset[str]:
    """What a batch did that alerts watch: made an issue, or brought one back."""
    found = {"new"} if creators else set()
    for pk, issue in issues.items():
        regressed_at, unignored_at = before[pk]
        if issue.regressed_at != regressed_at:
            found.add("regressed")
        if issue.unignored_at != unignored_at:
            found.add("unignored")
    return frozenset(found)


def _announce(project_id: int, changes: frozenset[str]) -> None:
    """After the commit: a listener's failure is logged, never a reason to group again."""
    for receiver, result in signals.issues_changed.send_robust(Issue, project_id=project_id, changes=changes):
        if isinstance(result, Exception):
            logger.error(
                "errors grouper: issues_changed listener failed",
                exc_info=result,
                extra={"listener": getattr(receiver, "__qualname__", ""), "project_id": project_id},
            )


def _claim(cursor: Any, project_id: int, limit: int) -> list[Pending]:
    """Take the project's oldest pending events (their rows go with this transaction's COMMIT)."""
    cursor.execute(
        "DELETE FROM errors_pendingevent WHERE event IN (SELECT event FROM errors_pendingevent"
        " WHERE project_id = %s ORDER BY project_id, event LIMIT %s)"
        " RETURNING event, received, issue_id, level, primary_hash, secondary_hash, release, environment,"
        " user_key",
        [project_id, limit],
    )
    return sorted((Pending(*row) for row in cursor.fetchall()), key=lambda event: event.id)


def _list(value: Any) -> list[Any]:
    if isinstance(value, str):  # jsonb comes back decoded, or as text under some adapters
        value = orjson.loads(value)
    return value if isinstance(value, list) else []


def _issues_of(cursor: Any, project_id: int, events: list[Pending]) -> tuple[dict[str, int], set[int]]:
    """Give each event its issue (`Pending.issue`), creating issues for unknown hashes; returns
    hash → issue for the batch's hashes, and the ids of the events that created an issue (their
    issue is "new", not "seen again")."""
    hashes = {h for event in events for h in (event.primary, event.secondary) if h}
    cursor.execute(
        "SELECT hash, issue_id FROM errors_groupinghash WHERE project_id = %s AND grouping = %s"
        " AND hash = ANY(string_to_array(%s, ','))",
        [project_id, GROUPING, ",".join(hashes)],
    )
    by_hash: dict[str, int] = dict(cursor.fetchall())
    creators: set[int] = set()
    new_hashes: list[tuple[str, int]] = []
    for event in events:
        found = hashmap.issue_for(by_hash.get, event.primary, event.secondary)
        if found is None:
            found = _issue_create(cursor, project_id, event)
            creators.add(event.id)
        for h in (event.primary, event.secondary):
            if h and h not in by_hash:
                by_hash[h] = found
                new_hashes.append((h, found))
        event.issue = found
    if new_hashes:
        GroupingHash.objects.bulk_create(
            [
                GroupingHash(project_id=project_id, hash=h, grouping=GROUPING, issue_id=i)
                for h, i in new_hashes
            ],
            ignore_conflicts=True,
        )
    return by_hash, creators


def _issue_create(cursor: Any, project_id: int, event: Pending) -> int:
    """A new issue from its first event; the payload is read for the title and the grouping basis
    (only here: a new issue is rare next to the events of known ones)."""
    cursor.execute(
        "SELECT data FROM errors_event WHERE project_id = %s AND id = %s AND received = %s",
        [project_id, event.id, event.received],
    )
    row = cursor.fetchone()  # (None: its day was dropped by retention before it was counted)
    data = _dict(storage.data_decode(row[0])) if row else {}
    title, culprit = title_and_culprit(data)
    issue = Issue.objects.create(
        project_id=project_id,
        title=title,
        culprit=culprit,
        level=event.level,
        first_seen=event.received,
        last_seen=event.received,
        grouping_basis=group(data).basis,
    )
    return issue.pk


def _dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = orjson.loads(value)
    return value if isinstance(value, dict) else {}


def _lock_issues(cursor: Any, ids: set[int]) -> dict[int, IssueState]:
    """The touched issues, row-locked in id order (as every issue writer locks), by id."""
    cursor.execute(_LOCK_ISSUES, [_joined(ids)])
    issues = {}
    for row in cursor.fetchall():
        issue = IssueState(*row)
        # jsonb comes back as text (Django's loader), or decoded under other adapters.
        issue.releases = _list(issue.releases)
        issue.environments = _list(issue.environments)
        issue.ignore_window_counts = _dict(issue.ignore_window_counts)
        issues[issue.pk] = issue
    return issues


def _write_issues(cursor: Any, issues: dict[int, IssueState]) -> None:
    """Every touched issue written back in one statement (its row is locked: absolute values),
    from one JSON document: orjson encodes the issues in one call, where arrays of 13 columns
    were adapted value by value."""
    cursor.execute(
        "UPDATE errors_issue i SET event_count = v.event_count, last_seen = v.last_seen,"
        " users_affected = v.users_affected, releases = v.releases, environments = v.environments,"
        " status = v.status, substatus = v.substatus, resolved_at = v.resolved_at,"
        " ignored_events = v.ignored_events, regressed_at = v.regressed_at, unignored_at = v.unignored_at,"
        " ignore_window_counts = v.ignore_window_counts"
        " FROM json_to_recordset(%s::json) AS v(pk bigint, event_count bigint, last_seen timestamptz,"
        " users_affected int, releases jsonb, environments jsonb, status text, substatus text,"
        " resolved_at timestamptz, ignored_events int, regressed_at timestamptz, unignored_at timestamptz,"
        " ignore_window_counts jsonb)"
        " WHERE i.id = v.pk",
        [orjson.dumps(list(issues.values())).decode()],
    )


def _joined(numbers: Any) -> str:
    """Integers as comma-separated text for `string_to_array(%s, ',')::bigint[]`: psycopg adapts
    a Python list element by element, a measurable share of a batch's CPU."""
    return ",".join(map(str, numbers))


def _record(cursor: Any, project_id: int, events: list[Pending], issues: dict[int, IssueState]) -> None:
    """Store the issue of each event stored without it or with another one (a new hash, or a
    merge or split since), and from one JSON document of the batch: the events per issue and
    hour added to the sparkline counters, and the users not seen before added to the issues'
    users affected (written in issue order, as every issue writer locks). An event stored with
    its issue — nearly all of them — is not touched: its row is never rewritten.

    The rewritten rows find their issue in one JSON object (event id → issue id), not by a join
    with the batch's ids: a join let the planner, when a partition's statistics put the batch's
    minutes at one row, pick a nested loop that compared every event with every id. The bounds
    on `received` let PostgreSQL prune to the days those events lie in."""
    moved = [event for event in events if event.stored_with != event.issue]
    if moved:
        cursor.execute(
            "UPDATE errors_event e SET issue_id = (%(map)s::jsonb ->> e.id::text)::bigint"
            " WHERE e.project_id = %(project)s AND %(map)s::jsonb ? e.id::text"
            " AND e.received >= %(low)s AND e.received <= %(high)s"
            " AND e.issue_id IS DISTINCT FROM (%(map)s::jsonb ->> e.id::text)::bigint",
            {
                "map": orjson.dumps({e.id: e.issue for e in moved}, option=orjson.OPT_NON_STR_KEYS).decode(),
                "project": project_id,
                "low": min(event.received for event in moved),
                "high": max(event.received for event in moved),
            },
        )
    cursor.execute(
        "WITH counted AS (SELECT * FROM json_to_recordset(%s::json)"
        " AS v(issue bigint, received timestamptz, user_key text)),"
        " hours AS ("
        " INSERT INTO errors_issuehour (issue_id, hour, events)"
        " SELECT issue, date_trunc('hour', received, 'UTC'), count(*) FROM counted"
        " GROUP BY 1, 2 ORDER BY 1, 2"
        " ON CONFLICT (issue_id, hour) DO UPDATE SET events = errors_issuehour.events + EXCLUDED.events)"
        " INSERT INTO errors_issueuser (issue_id, user_key)"
        " SELECT DISTINCT issue, user_key FROM counted WHERE user_key <> '' ORDER BY 1, 2"
        " ON CONFLICT DO NOTHING RETURNING issue_id",
        [orjson.dumps(events).decode()],
    )
    for issue_id, new_users in Counter(row[0] for row in cursor.fetchall()).items():
        issues[issue_id].users_affected += new_users


def projects_pending() -> list[int]:
    """Projects with pending events (a project deleted meanwhile has nothing left to group)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT project_id FROM errors_pendingevent")
        found = [project_id for (project_id,) in cursor.fetchall()]
    return sorted(Project.objects.filter(pk__in=found).values_list("pk", flat=True))


def drain(project_id: int) -> int:
    """Count the project's pending events batch after batch until none is left."""
    total = 0
    while True:
        grouped = group_pending(project_id)
        total += grouped
        if grouped < settings.ERRORS_GROUP_BATCH:
            return total


def sweep() -> int:
    """Count every project's pending events (what a killed process left behind)."""
    return sum(drain(project_id) for project_id in projects_pending())


class Batcher:
    """One grouping thread per web process, started on the first notification."""

    def __init__(self) -> None:
        self.pending: set[int] = set()
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def notify(self, project_id: int) -> None:
        with self.lock:
            self.pending.add(project_id)
            if self.thread is None:
                self.thread = threading.Thread(target=self.run, name="vigil-errors-grouper", daemon=True)
                self.thread.start()
        self.wake.set()

    def run(self) -> None:
        last_sweep = 0.0
        while True:
            if self.wake.wait(timeout=settings.ERRORS_GROUP_SWEEP_SECONDS):
                time.sleep(settings.ERRORS_GROUP_DELAY_MS / 1000)  # let a batch gather
            self.wake.clear()
            with self.lock:
                projects, self.pending = self.pending, set()
            if time.monotonic() - last_sweep >= settings.ERRORS_GROUP_SWEEP_SECONDS:
                last_sweep = time.monotonic()
                projects |= set(self.guarded(projects_pending) or [])
            failed = {
                project_id for project_id in sorted(projects) if self.guarded(drain, project_id) is None
            }
            close_old_connections()
            if failed:
                with self.lock:
                    self.pending |= failed
                time.sleep(1)

    def guarded(self, work: Any, *args: Any) -> Any:
        """`work(*args)`, or None when it failed. Storage down, most likely: the events stay
        pending and are retried; one project's failure never holds up another's events."""
        try:
            return work(*args)
        except Exception:
            logger.exception("errors grouper: batch failed, retrying")
            close_old_connections()
            return None


batcher = Batcher()
