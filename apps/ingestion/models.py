"""Per-project ingestion settings: redaction and the zone of zoneless log times; limits are global."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

import re2
from django.core.exceptions import ValidationError
from django.db import models

# Limits of a project's redaction patterns (README, "Redaction"): every pattern runs on every
# message and string value the project sends, so their number and size bound ingestion's work.
MAX_REDACT_PATTERNS = 20
MAX_REDACT_PATTERN_LENGTH = 500
# RE2's memory budget for the compiled alternation of a project's patterns: a pattern that
# expands past it (`(a{100}){100}`) is refused instead of being allowed to cost megabytes.
RE2_MAX_MEMORY = 4 * 1024 * 1024


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.max_mem = RE2_MAX_MEMORY
    options.log_errors = False
    return options


def compile_patterns(
    patterns: tuple[str, ...] | list[str], on_error: Callable[[str, str], None]
) -> re2._Regexp | None:
    """One RE2 alternation of `patterns`, or None when none compiles. `on_error(pattern, reason)`
    is called for each pattern RE2 refuses, and that pattern is left out."""
    options, valid = _re2_options(), []
    for pattern in patterns:
        try:
            re2.compile(pattern, options)
        except re2.error as exc:
            on_error(pattern, _reason(exc))
        else:
            valid.append(pattern)
    if not valid:
        return None
    try:
        return re2.compile("|".join(f"(?:{pattern})" for pattern in valid), options)
    except re2.error as exc:  # each fits RE2's memory budget, together they do not
        on_error("|".join(valid), _reason(exc))
        return None


def _reason(exc: re2.error) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def validate_patterns(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("A list of regular expressions is expected.")
    if len(value) > MAX_REDACT_PATTERNS:
        raise ValidationError(f"At most {MAX_REDACT_PATTERNS} redaction patterns per project.")
    for pattern in value:
        if not pattern:
            raise ValidationError("An empty pattern would match everywhere.")
        if len(pattern) > MAX_REDACT_PATTERN_LENGTH:
            raise ValidationError(
                f"Pattern {pattern[:40]!r}… is longer than {MAX_REDACT_PATTERN_LENGTH} characters."
            )
    errors: list[str] = []

    def refuse(pattern: str, reason: str) -> None:
        errors.append(
            f"Pattern {pattern[:80]!r} is not supported: {reason}. Redaction patterns run in RE2 "
            "(linear time): no backreferences or lookaround; see the README."
        )

    compiled = compile_patterns(value, on_error=refuse)
    if compiled is not None and not errors and compiled.search("") is not None:
        errors.append("A pattern matches empty text: it would mask between every character.")
    if errors:
        raise ValidationError(errors)


def validate_keys(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValidationError("A list of attribute key fragments is expected.")


def validate_time_zone(value: object) -> None:
    if not isinstance(value, str) or value not in zoneinfo.available_timezones() | {"UTC"}:
        raise ValidationError(f"Unknown time zone {value!r}; use an IANA name such as Europe/Paris.")


class IngestionSettings(models.Model):
    """Extends (never replaces) the default redaction of apps.ingestion.redaction."""

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, related_name="ingestion_settings"
    )
    redact_keys = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_keys],
        help_text="Extra attribute key fragments whose values are masked (case-insensitive substring).",
    )
    redact_patterns = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_patterns],
        help_text="Extra regular expressions; matching text in messages and attribute values is masked.",
    )
    log_time_zone = models.CharField(
        max_length=64,
        default="UTC",
        blank=True,  # empty means UTC; the redaction forms need not mention it
        validators=[validate_time_zone],
        help_text="IANA zone of log timestamps written without one (python-json-logger's asctime).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "ingestion settings"

    def __str__(self) -> str:
        return f"ingestion settings of project {self.project_id}"
