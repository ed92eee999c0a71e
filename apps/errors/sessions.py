"""Release health: Sentry `session` and `sessions` items counted per project, day, release and
environment (SessionCount), read back as crash-free rates.

* `session`: one session's update. It counts as started on its first update (`init: true`) and
  by how it ended on its final one (`exited` with errors → errored, `crashed`, `abnormal`), so a
  session updated several times is counted once.
* `sessions`: the aggregates server-mode SDKs send (sentry_sdk in a web app): per bucket,
  `exited`, `errored`, `abnormal`, `crashed` sessions, which all started.
A session without a release is not counted (Sentry drops them too: release health is per release).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection
from django.db.models import Sum

from apps.errors.models import DsnKey, SessionCount

FINAL = {"exited", "crashed", "abnormal", "errored"}


@dataclass(frozen=True)
class CrashFree:
    release: str
    sessions: int
    crashed: int
    errored: int

    @property
    def rate(self) -> float | None:
        """Crash-free sessions in percent; None without sessions."""
        return 100.0 * (self.sessions - self.crashed) / self.sessions if self.sessions else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**40 else 0


def _attrs(payload: dict[str, Any]) -> tuple[str, str]:
    attrs = payload.get("attrs")
    if not isinstance(attrs, dict):
        return "", ""
    release, environment = attrs.get("release"), attrs.get("environment")
    return (
        release[:200].replace("\x00", "") if isinstance(release, str) else "",
        environment[:64].replace("\x00", "") if isinstance(environment, str) else "",
    )


def _day(value: Any, received: datetime) -> date:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).date()
        except ValueError:
            pass
    return received.date()


def _add(project_id: int, day: date, release: str, environment: str, counts: dict[str, int]) -> None:
    if not any(counts.values()):
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO errors_sessioncount"
            " (project_id, day, release, environment, total, errored, crashed, abnormal)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (project_id, day, release, environment) DO UPDATE SET"
            " total = errors_sessioncount.total + EXCLUDED.total,"
            " errored = errors_sessioncount.errored + EXCLUDED.errored,"
            " crashed = errors_sessioncount.crashed + EXCLUDED.crashed,"
            " abnormal = errors_sessioncount.abnormal + EXCLUDED.abnormal",
            [
                project_id,
                day,
                release,
                environment,
                counts.get("total", 0),
                counts.get("errored", 0),
                counts.get("crashed", 0),
                counts.get("abnormal", 0),
            ],
        )


def session_count(key: DsnKey, organization_id: int, payload: dict[str, Any]) -> None:
    """One `session` update."""
    release, environment = _attrs(payload)
    if not release:
        return
    status = payload.get("status")
    counts = {"total": 1 if payload.get("init") is True else 0}
    if status in FINAL:
        if status == "crashed":
            counts["crashed"] = 1
        elif status == "abnormal":
            counts["abnormal"] = 1
        elif status == "errored" or _count(payload.get("errors")) > 0:
            counts["errored"] = 1
    _add(key.project_id, _day(payload.get("started"), datetime.now(UTC)), release, environment, counts)


def sessions_count(key: DsnKey, organization_id: int, payload: dict[str, Any]) -> None:
    """A `sessions` aggregate: buckets of sessions that started and how they ended."""
    release, environment = _attrs(payload)
    aggregates = payload.get("aggregates")
    if not release or not isinstance(aggregates, list):
        return
    by_day: dict[date, dict[str, int]] = {}
    for bucket in aggregates[:1000]:
        if not isinstance(bucket, dict):
            continue
        ended = {name: _count(bucket.get(name)) for name in ("exited", "errored", "abnormal", "crashed")}
        counts = by_day.setdefault(_day(bucket.get("started"), datetime.now(UTC)), {})
        for name, value in (
            ("total", sum(ended.values())),
            *((n, ended[n]) for n in ("errored", "crashed", "abnormal")),
        ):
            counts[name] = counts.get(name, 0) + value
    for day, counts in by_day.items():
        _add(key.project_id, day, release, environment, counts)


def crash_free(project_id: int, since: date) -> list[CrashFree]:
    """Per release, newest-counted first: sessions since `since` and how many crashed."""
    rows = (
        SessionCount.objects.filter(project_id=project_id, day__gte=since)
        .values("release")
        .annotate(total=Sum("total"), crashed=Sum("crashed"), errored=Sum("errored"))
        .order_by("-total", "release")
    )
    return [CrashFree(r["release"], r["total"], r["crashed"], r["errored"]) for r in rows]
