"""Alert kinds on error tracking's issues (issue 20 §6), read through apps.errors.selectors only.

    new_issue         {"environment": ""}   one instance per issue first seen in the window
    issue_regression  {"environment": ""}   one instance per issue that regressed in the window
    issue_unignored   {"environment": ""}   one instance per issue that came back from ignored
    issue_events      {"issue_id": null | <id>, "per_issue": true, "environment": ""}
                      N events of an issue in T: value = events in the window, one instance per
                      issue (per_issue), one for all issues together (per_issue false), or only
                      the issue `issue_id`; the condition says N (`>= 100`), the window T.

The first three are evaluated as soon as the change happens, not only on their slot: apps.errors'
grouper sends `issues_changed` after each batch, and `policies_due_now` makes the project's
policies on those changes due and hands each to a worker (a heartbeat's ping does the same).

For the first three the value is the issue's events in the window (at least 1), so `> 0` means
"every such issue", `>= 10` "such issues with at least ten events". An issue's instance is
labelled {"issue": "<id>"}: each issue is its own incident (and notification), and it resolves
once the window has passed without the change recurring.

Issues are read through apps.errors' selectors directly, not through apps.alerts.reads' batching
(error volumes are small; a batch's recording pass skips these kinds). Registered in
specs.VALIDATORS and evaluators.EVALUATORS by one line each; `issue_context` is the
notification's context for these kinds (top frames of the stack and a link to the issue).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from apps.alerts.evaluation import Sample
from apps.alerts.models import Policy
from apps.alerts.reads import Reads, Recorder
from apps.errors import selectors as errors

logger = logging.getLogger(__name__)

Labels = dict[str, Any]
Samples = dict[str, tuple[Labels, Sample]]
CHANGES = {"new_issue": "new", "issue_regression": "regressed", "issue_unignored": "unignored"}
KINDS = (*CHANGES, "issue_events")
MAX_ISSUE_ID = 2**63 - 1


def _key(labels: Labels) -> str:
    # The canonical form of evaluators.labels_key (which imports this module, so not from there).
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


# --- Specs ------------------------------------------------------------------------------------


def _environment(spec: dict[str, Any], errors: dict[str, str]) -> str:
    value = spec.get("environment") or ""
    if not isinstance(value, str) or len(value) > 64:
        errors["environment"] = "must be an environment name of at most 64 characters, or empty for all"
        return ""
    return value.strip()


def _unknown(spec: dict[str, Any], allowed: set[str], errors: dict[str, str]) -> None:
    unknown = set(spec) - allowed
    if unknown:
        errors["spec"] = f"unknown field(s): {', '.join(sorted(unknown))}"


def _issue_change_spec(spec: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    _unknown(spec, {"environment"}, errors)
    return {"environment": _environment(spec, errors)}


def _issue_events_spec(spec: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    _unknown(spec, {"issue_id", "per_issue", "environment"}, errors)
    issue_id = spec.get("issue_id")
    if issue_id is not None and (
        isinstance(issue_id, bool) or not isinstance(issue_id, int) or not 0 < issue_id <= MAX_ISSUE_ID
    ):
        errors["issue_id"] = "must be an issue id of this project, or null for all issues"
        issue_id = None
    per_issue = spec.get("per_issue", True)
    if not isinstance(per_issue, bool):
        errors["per_issue"] = "must be true (one alert per issue) or false (all issues together)"
        per_issue = True
    return {"issue_id": issue_id, "per_issue": per_issue, "environment": _environment(spec, errors)}


VALIDATORS: dict[str, Callable[[dict[str, Any], dict[str, str]], dict[str, Any]]] = {
    **dict.fromkeys(CHANGES, _issue_change_spec),
    "issue_events": _issue_events_spec,
}


# --- Evaluation -------------------------------------------------------------------------------


def _complete(samples: Samples, known: dict[str, Labels]) -> Samples:
    for key, labels in known.items():
        samples.setdefault(key, (labels, Sample(0.0)))  # no such change this window: 0, not no data
    return samples


def _per_issue(counts: dict[int, int]) -> Samples:
    samples: Samples = {}
    for issue_id, count in counts.items():
        labels = {"issue": str(issue_id)}
        samples[_key(labels)] = (labels, Sample(float(count)))
    return samples


def _issue_change(
    policy: Policy, start: datetime, now: datetime, known: dict[str, Labels], reads: Reads
) -> Samples:
    if isinstance(reads, Recorder):
        return {}  # a batch's recording pass: issues are read directly in the second pass
    spec = policy.spec
    changed = errors.issues_changed(policy.project_id, CHANGES[policy.kind], start, now)
    counts = (
        errors.issue_event_counts(policy.project_id, start, now, spec.get("environment", ""), changed)
        if changed
        else {}
    )
    return _complete(_per_issue(counts), known)


def _issue_events(
    policy: Policy, start: datetime, now: datetime, known: dict[str, Labels], reads: Reads
) -> Samples:
    if isinstance(reads, Recorder):
        return {}  # see _issue_change
    spec = policy.spec
    issue_id = spec.get("issue_id")
    counts = errors.issue_event_counts(
        policy.project_id, start, now, spec.get("environment", ""), [issue_id] if issue_id else None
    )
    if issue_id or not spec.get("per_issue", True):
        labels: Labels = {"issue": str(issue_id)} if issue_id else {}
        return {_key(labels): (labels, Sample(float(sum(counts.values()))))}
    return _complete(_per_issue(counts), known)


EVALUATORS: dict[str, Callable[[Policy, datetime, datetime, dict[str, Labels], Reads], Samples]] = {
    **dict.fromkeys(CHANGES, _issue_change),
    "issue_events": _issue_events,
}


# --- Notification context ---------------------------------------------------------------------


def issue_context(policy: Policy, labels: dict[str, str]) -> dict[str, Any]:
    """{"issue": {id, title, culprit, level, status, event_count, path, frames}} for an alert of
    one issue; {} for other kinds or an issue gone meanwhile (merged away)."""
    if policy.kind not in KINDS or not str(labels.get("issue", "")).isdigit():
        return {}
    brief = errors.issue_brief(policy.project_id, int(labels["issue"]))
    if brief is None:
        return {}
    return {
        "issue": {
            "id": brief.id,
            "title": brief.title,
            "culprit": brief.culprit,
            "level": brief.level,
            "status": brief.status,
            "event_count": brief.event_count,
            "path": brief.path,
            "frames": brief.frames,
        }
    }


# --- Evaluated when it happens ----------------------------------------------------------------


def policies_due_now(sender: Any, project_id: int, changes: frozenset[str], **kwargs: Any) -> list[int]:
    """Listener of apps.errors.signals.issues_changed: the project's enabled policies on these
    changes become due now, and a worker evaluates each at once; the ids made due. A policy
    already due is left alone (a burst of new issues queues one evaluation, not one per batch);
    one a worker holds is made due past its claimed slot, so that its release keeps it due and
    queues it (its evaluation may have read before this change: apps.alerts.scheduler); with the
    queue unreachable, the beat tick (every 10 s) takes the due slots instead."""
    from apps.alerts.tasks import evaluate_policy  # tasks → scheduler → evaluators → this module

    kinds = [kind for kind, change in CHANGES.items() if change in changes]
    if not kinds:
        return []
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE alerts_policy SET next_due_at = %s"
            " WHERE project_id = %s AND kind = ANY(%s) AND enabled"
            " AND (next_due_at > %s OR (claim_token IS NOT NULL AND claim_expires_at > %s))"
            " RETURNING id, claim_token IS NULL",
            [now, project_id, kinds, now, now],
        )
        made = cursor.fetchall()
    due = [policy_id for policy_id, _ in made]
    for policy_id in [policy_id for policy_id, free in made if free]:  # held ones: queued by their release
        try:
            evaluate_policy.apply_async((policy_id,), retry=False)
        except Exception:
            logger.warning("alerts: could not queue an issue alert; the next tick takes it", exc_info=True)
            break
    return due
