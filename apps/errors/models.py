"""DSN keys, issues, the grouping hashes that map events onto issues, and events.

Events are telemetry: errors_event is partitioned by day and written by COPY (apps/errors/storage.py
owns its DDL, partitions, dedup keys and retention); the Event model is unmanaged and serves reads.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.errors import storage
from apps.projects.models import Project


class DsnKeyQuerySet(models.QuerySet["DsnKey"]):
    def active(self) -> DsnKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class DsnKey(models.Model):
    """The public key of a DSN. Unlike `vgl_` API keys it is stored in clear: SDKs embed it in
    browser bundles and mobile apps, so it is public by design; it only lets one send events to
    one project (like Sentry's public keys), and it is shown again on the settings page any time."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dsn_keys")
    public_key = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = DsnKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "DSN key"

    def __str__(self) -> str:
        return self.public_key

    @staticmethod
    def new_public_key() -> str:
        return secrets.token_hex(16)  # 32 hex characters, what every Sentry SDK expects

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class IssueStatus(models.TextChoices):
    UNRESOLVED = "unresolved", "Unresolved"
    RESOLVED = "resolved", "Resolved"
    IGNORED = "ignored", "Ignored"


class IssueSubstatus(models.TextChoices):
    NEW = "new", "New"
    ONGOING = "ongoing", "Ongoing"
    REGRESSED = "regressed", "Regressed"


class Issue(models.Model):
    # The grouper rewrites an issue row per batch it touches, and since `last_seen` is in
    # errors_issue_list that update is never HOT: every index costs an insert per event. So no index
    # of its own for `project` — errors_issue_list leads with it.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="issues", db_index=False)
    title = models.CharField(max_length=255)
    culprit = models.CharField(max_length=255, blank=True)
    level = models.CharField(max_length=16, default="error")
    status = models.CharField(max_length=16, choices=IssueStatus.choices, default=IssueStatus.UNRESOLVED)
    substatus = models.CharField(max_length=16, choices=IssueSubstatus.choices, default=IssueSubstatus.NEW)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    event_count = models.BigIntegerField(default=0)
    users_affected = models.IntegerField(default=0)
    # Small, bounded lists (at most MAX_LISTED each): a side table would cost a query per event.
    releases = models.JSONField(default=list)
    environments = models.JSONField(default=list)
    # Resolution: `resolved_in_release` is the release that has the fix ("" = resolved now, any
    # new event regresses it).
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_in_release = models.CharField(max_length=200, blank=True)
    resolved_in_next_release = models.BooleanField(default=False)  # the fix ships after this release
    # Ignore until a time, or until `ignore_until_count` more events (counted in ignored_events),
    # or — with `ignore_window_seconds` — until that many events within the window, counted per
    # minute in `ignore_window_counts` ({"<epoch minute>": n}, only minutes inside the window).
    ignored_until = models.DateTimeField(null=True, blank=True)
    ignore_until_count = models.IntegerField(null=True, blank=True)
    ignored_events = models.IntegerField(default=0)
    ignore_window_seconds = models.IntegerField(null=True, blank=True)
    ignore_window_counts = models.JSONField(default=dict, blank=True)
    # When the issue last regressed / came back from ignored by itself: the alert kinds
    # issue_regression and issue_unignored read these (apps.alerts.error_kinds).
    regressed_at = models.DateTimeField(null=True, blank=True)
    unignored_at = models.DateTimeField(null=True, blank=True)
    # The frames (and type) that made the primary hash: shown as "why grouped".
    grouping_basis = models.JSONField(default=list)
    # The minute of last_seen (migration 0013's vigil_epoch_minute): what the issue list's index
    # holds instead of last_seen itself. The grouper rewrites last_seen with nearly every event;
    # with last_seen indexed no such UPDATE was HOT (each one a new index entry in every index of
    # errors_issue, and a dead row for vacuum), while the minute changes at most once a minute.
    last_seen_minute = models.GeneratedField(
        expression=models.Func(
            models.F("last_seen"), function="vigil_epoch_minute", output_field=models.BigIntegerField()
        ),
        output_field=models.BigIntegerField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["-last_seen"]
        indexes = [
            # The issue list: a project's issues of one status, most recent first — ordered by
            # (last_seen_minute, last_seen), which is last_seen's order (selectors.issues_of).
            models.Index(fields=["project", "status", "-last_seen_minute"], name="errors_issue_recent"),
        ]

    def __str__(self) -> str:
        return self.title


class GroupingHash(models.Model):
    """Which issue a grouping hash belongs to. Several hashes may point at one issue (merges, and
    the all-frames hash kept next to the in-app one)."""

    # (errors_hash_unique leads with `project`, and `issue` has its own index for merges and splits.)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    hash = models.CharField(max_length=32)
    grouping = models.CharField(max_length=16)  # the algorithm version, e.g. "vigil-v1"
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="hashes")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "grouping", "hash"], name="errors_hash_unique")
        ]

    def __str__(self) -> str:
        return f"{self.grouping}:{self.hash}"


class IssueUser(models.Model):
    """One row per (issue, user) seen: counting users affected with INSERT … ON CONFLICT."""

    # (errors_issue_user_unique leads with `issue`: no index of its own.)
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="+", db_index=False)
    user_key = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issue", "user_key"], name="errors_issue_user_unique")]

    def __str__(self) -> str:
        return self.user_key


class IssueHour(models.Model):
    """Events of an issue per hour, kept ISSUE_HOURS_DAYS: the sparklines of the issue list. The
    grouper adds each batch's counts in its own transaction, so they are exact like event_count."""

    # (errors_issue_hour_unique leads with `issue`: no index of its own. The table's fillfactor is
    # 50, migration 0012: the grouper's `events + n` changes no indexed column, so with room left
    # on the page PostgreSQL updates the row in place, HOT, touching no index.)
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField()
    events = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issue", "hour"], name="errors_issue_hour_unique")]
        indexes = [models.Index(fields=["hour"], name="errors_issue_hour_trim")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.events}"


class EventDataField(models.JSONField):
    """An event's payload: a dict to Python, in a bytea column as apps.errors.storage encodes it
    (LZ4-compressed JSON text; storage.py says why not jsonb). Reads and ORM writes go through the
    same codec as the COPY; nothing may look inside it in SQL (no key lookups: it is not jsonb)."""

    def db_type(self, connection: Any) -> str:
        return "bytea"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else storage.data_decode(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None or hasattr(value, "as_sql"):
            return value
        return storage.data_encode(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


class Event(models.Model):
    """A stored event; `issue` is None for the second or so until apps.errors.grouper assigns it.
    The table (migration 0003) is partitioned by day on `received`; its primary key is
    (id, received), `id` alone is unique by its sequence."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    # DO_NOTHING: a merge deletes the issues it folded after moving their events, and an event a
    # writer stored meanwhile with one of them (its map not yet told) is corrected by the grouper,
    # never deleted with it.
    issue = models.ForeignKey(
        Issue,
        on_delete=models.DO_NOTHING,
        related_name="events",
        null=True,
        db_index=False,
        db_constraint=False,
    )
    event_id = models.UUIDField()
    received = models.DateTimeField(default=timezone.now)
    timestamp = models.DateTimeField()
    level = models.CharField(max_length=16, default="error")
    title = models.CharField(max_length=255)
    release = models.CharField(max_length=200, blank=True)
    environment = models.CharField(max_length=64, blank=True)
    platform = models.CharField(max_length=32, blank=True)
    trace_id = models.CharField(max_length=32, blank=True)
    span_id = models.CharField(max_length=16, blank=True)
    user_key = models.CharField(max_length=200, blank=True)
    hashes = models.JSONField(default=list)  # ["vigil-v1:<hash>", …], the hashes computed for it
    data = EventDataField()  # the event as sent (size-capped by the body cap)

    class Meta:
        managed = False
        ordering = ["-received"]

    def __str__(self) -> str:
        return str(self.event_id)


class PendingEvent(models.Model):
    """A stored event its issue has not counted yet: what the grouper needs of it, in a narrow
    row it takes with DELETE … RETURNING (apps.errors.grouper), so that counting an event never
    rewrites the event's own row (apps.errors.hashmap says why). Written by the same COPY
    transaction as the event (apps.errors.storage)."""

    event = models.BigIntegerField(primary_key=True)  # errors_event.id
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    received = models.DateTimeField()
    issue_id = models.BigIntegerField(null=True)  # the issue it was stored with (None: unknown hashes)
    primary_hash = models.CharField(max_length=32)
    secondary_hash = models.CharField(max_length=32, blank=True)
    level = models.CharField(max_length=16)
    release = models.CharField(max_length=200, blank=True)
    environment = models.CharField(max_length=64, blank=True)
    user_key = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "event"], name="errors_pending_project")]

    def __str__(self) -> str:
        return str(self.event)


class SdkDiscard(models.Model):
    """What SDKs reported dropping (`client_report` items), per project, day, reason, category."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    reason = models.CharField(max_length=64)
    category = models.CharField(max_length=32)
    quantity = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "day", "reason", "category"], name="errors_sdk_discard_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category}/{self.reason}: {self.quantity}"


class Attachment(models.Model):
    """A small file an SDK sent with an event (`attachment` item): a log tail, a config dump.
    Tied to the event by (project, event_id), not by a foreign key: the event may be stored a
    moment later (another item of the envelope) and events may move to a partitioned table."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    event_id = models.UUIDField()
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.IntegerField()
    data = models.BinaryField()  # at most SENTRY_ATTACHMENT_MAX_BYTES
    received = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The issue page lists its latest event's attachments.
            models.Index(fields=["project", "event_id"], name="errors_attachment_event"),
            # Retention: the hourly delete next to the events'.
            models.Index(fields=["received"], name="errors_attachment_expiry"),
        ]

    def __str__(self) -> str:
        return self.filename


class SessionCount(models.Model):
    """Release health: sessions per project, day, release and environment, with how they ended.
    `total` counts sessions started; crash-free rate = 1 - crashed / total."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    release = models.CharField(max_length=200)
    environment = models.CharField(max_length=64, blank=True)
    total = models.BigIntegerField(default=0)
    errored = models.BigIntegerField(default=0)
    crashed = models.BigIntegerField(default=0)
    abnormal = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "day", "release", "environment"], name="errors_session_count_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.release} {self.day}: {self.total}"


class ReleaseFile(models.Model):
    """A file of a release uploaded for symbolication: a minified bundle or its source map, named
    by the URL the browser loaded it from (`~/static/js/main.min.js`: `~` is any origin), as
    sentry-cli uploads them through Sentry's release files API."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    release = models.CharField(max_length=200)
    dist = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=500)
    size = models.IntegerField()
    sha1 = models.CharField(max_length=40)
    headers = models.JSONField(default=dict)  # e.g. {"Sourcemap": "main.min.js.map"}
    data = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)
    # Upload, or the last symbolication that read it (bumped at most daily): a release's files go
    # together once none of them was used for SOURCEMAP_RETENTION_DAYS (apps.errors.retention).
    last_used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "release", "dist", "name"], name="errors_release_file_unique"
            )
        ]
        indexes = [models.Index(fields=["last_used_at"], name="errors_release_file_expiry")]

    def __str__(self) -> str:
        return f"{self.release}: {self.name}"


class FileChunk(models.Model):
    """A piece of an artifact bundle sentry-cli uploads before asking to assemble it
    (apps.errors.artifact_bundles); content-addressed by sha1, deleted once assembled."""

    organization = models.ForeignKey("projects.Organization", on_delete=models.CASCADE, related_name="+")
    checksum = models.CharField(max_length=40)
    data = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "checksum"], name="errors_file_chunk_unique")
        ]
        # Chunks never assembled go after SOURCEMAP_CHUNK_RETENTION_HOURS (apps.errors.retention).
        indexes = [models.Index(fields=["created_at"], name="errors_file_chunk_expiry")]

    def __str__(self) -> str:
        return self.checksum


class ArtifactBundle(models.Model):
    """An artifact bundle (sentry-cli's chunk upload, assembled) whose files carry debug ids, kept
    per project: its files are found by debug id, with or without a release
    (apps.errors.debug_ids). `bundle_id` is the manifest's own debug id, else the checksum."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    bundle_id = models.CharField(max_length=64)
    release = models.CharField(max_length=200, blank=True)
    dist = models.CharField(max_length=64, blank=True)
    size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    # Upload, or the last symbolication that read one of its files (bumped at most daily): the
    # bundle goes once unused for SOURCEMAP_RETENTION_DAYS (apps.errors.retention).
    last_used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "bundle_id"], name="errors_artifact_bundle_unique")
        ]
        indexes = [models.Index(fields=["last_used_at"], name="errors_artifact_bundle_expiry")]

    def __str__(self) -> str:
        return self.bundle_id


class SourceFileType(models.TextChoices):
    MINIFIED_SOURCE = "minified_source", "Minified source"
    SOURCE_MAP = "source_map", "Source map"


class DebugIdFile(models.Model):
    """A minified file or its source map from an artifact bundle, found by the debug id the build
    wrote into both (`//# debugId=…`, `"debugId"`). One per (project, debug id, type): a newer
    upload of the same build replaces it."""

    bundle = models.ForeignKey(ArtifactBundle, on_delete=models.CASCADE, related_name="files")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    debug_id = models.UUIDField()
    file_type = models.CharField(max_length=16, choices=SourceFileType.choices)
    name = models.CharField(max_length=500)  # the URL it was bundled under, e.g. ~/main.min.js
    headers = models.JSONField(default=dict)
    size = models.IntegerField()
    sha1 = models.CharField(max_length=40)
    data = models.BinaryField()

    class Meta:
        constraints = [
            # Also the index of the one lookup per event: its project's files of these debug ids.
            models.UniqueConstraint(
                fields=["project", "debug_id", "file_type"], name="errors_debug_id_file_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.debug_id} {self.file_type}"
