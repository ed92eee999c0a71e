"""Which issue a grouping hash belongs to, as each web process remembers it: the writer stores
an event with its issue already, so that grouping never rewrites the event's row.

Design note. Grouping used to give each stored event its issue afterwards (`UPDATE errors_event
SET issue_id …`): a second, non-HOT version of every ~1.1 KiB row (issue_id is indexed), with
its index entries, WAL, and a dead row per event for autovacuum. Now the group-commit writer
looks each event's hashes up here (`issues_of`, one query per batch for the hashes this process
has not seen, none once the hot issues are known) and COPYs the event with that issue, plus a
narrow pending row (apps.errors.storage) from which the grouper counts it. The map is a hint,
never the truth: the grouper maps every pending event again under its project lock, from
errors_groupinghash, and rewrites only the events written without an issue (a hash never seen
before) or with another one (a merge or split moved the hash since). What it read there it
teaches this map after its COMMIT (`learn`), so a process's map follows merges and splits
within a batch or two of that project's events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from apps.errors.grouping import GROUPING

MAX_KNOWN = 200_000  # (project, hash) pairs remembered; past it the map starts over

_known: dict[tuple[int, str], int] = {}
_lock = threading.Lock()


class Hashed(Protocol):
    project_id: int
    primary: str
    secondary: str


def issue_for(lookup: Callable[[str], int | None], primary: str, secondary: str) -> int | None:
    """The one rule of both the writer and the grouper: the primary hash's issue, else the
    secondary's (`lookup`: hash → issue or None). Were they to differ, every event would be
    stored with one issue and rewritten to the other."""
    return lookup(primary) or (lookup(secondary) if secondary else None)


def issues_of(cursor: Any, rows: Sequence[Hashed]) -> list[int | None]:
    """Each row's issue as far as known (None: none of its hashes has an issue yet). Hashes this
    process has not seen are read in one query; unknown ones are not remembered (the grouper
    makes their issue a moment later and `learn` brings it)."""
    missing = {
        (row.project_id, h)
        for row in rows
        for h in (row.primary, row.secondary)
        if h and (row.project_id, h) not in _known
    }
    if missing:
        cursor.execute(
            "SELECT g.project_id, g.hash, g.issue_id FROM errors_groupinghash g"
            " JOIN unnest(string_to_array(%s, ',')::bigint[], string_to_array(%s, ','))"
            " AS m(project_id, hash) ON g.project_id = m.project_id AND g.hash = m.hash"
            " WHERE g.grouping = %s",
            [",".join(str(p) for p, _ in missing), ",".join(h for _, h in missing), GROUPING],
        )
        _remember(((project_id, h), issue_id) for project_id, h, issue_id in cursor.fetchall())
    return [issue_for(_lookup(row.project_id), row.primary, row.secondary) for row in rows]


def _lookup(project_id: int) -> Callable[[str], int | None]:
    return lambda h: _known.get((project_id, h))


def learn(project_id: int, by_hash: dict[str, int]) -> None:
    """What grouping just read or made under the project's lock (after its COMMIT)."""
    _remember(((project_id, h), issue_id) for h, issue_id in by_hash.items())


def forget() -> None:
    with _lock:
        _known.clear()


def _remember(pairs: Iterable[tuple[tuple[int, str], int]]) -> None:
    with _lock:
        if len(_known) > MAX_KNOWN:
            _known.clear()
        _known.update(pairs)
