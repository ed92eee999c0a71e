"""Masking secrets in telemetry before it is stored (DESIGN.md §4).

Keys: an attribute whose key contains a sensitive fragment (password, token, ...) has its value
replaced whole, at any depth. Values: text that looks like a card number (Luhn-valid), a bearer
or basic credential, or a Vigil API key is masked inside messages and string values.
Projects extend both lists (IngestionSettings); they cannot remove defaults.

Hot path: key verdicts are memoised per rule set (the same few keys repeat across millions of
records) and the value patterns are one alternation, so clean text costs one regex scan.

Project patterns are written by tenants, so they run in RE2 (google-re2), never in Python's
backtracking `re`: a pattern such as `(a+)+$` made one 25-character line stall a worker — and with
it every tenant's requests — for seconds. RE2 matches in time linear in the text; a pattern it
cannot compile (backreferences, lookaround) is refused when it is saved (validate_patterns), and
their number and length are capped. The default patterns are ours, bounded, and use lookbehind
(which RE2 lacks): they stay in `re`.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from apps.ingestion.models import IngestionSettings, compile_patterns

logger = logging.getLogger(__name__)

REDACTED = "[REDACTED]"
DEFAULT_KEYS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "api_key",
    "apikey",
    "api-key",
    "credential",
    "private_key",
    "session",
)
# Not glued to letters or digits: a Luhn-valid run inside a hex id or UUID is not a card number.
_CARD = r"(?<![0-9A-Za-z])(?:[0-9][ -]?){12,18}[0-9](?![0-9A-Za-z])"
_CREDENTIAL = r"(?i:\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,})"
_VIGIL_KEY = r"vgl_(?:ingest|read|manage)_[0-9A-Za-z]{8,}"
DEFAULT_PATTERNS = (_CARD, _CREDENTIAL, _VIGIL_KEY)
# The quick check below translates once: digits, spaces and dashes to 1 (a card number needs 13
# such bytes in a row), ASCII letters to lower case, "_" to itself, every other byte to 0; then it
# looks for a run or a needle. translate + rfind run in C, a fraction of a regex scan (rfind
# rather than `in`: it skips on the needle's first byte, rarer in text than the last).
_QUICK_TABLE = bytes(
    1 if chr(byte) in "0123456789 -" else ord(chr(byte).lower()) if chr(byte).isalpha() or byte == 95 else 0
    for byte in range(128)
) + bytes(128)
_QUICK_NEEDLES = (b"\x01" * 13, b"bearer", b"basic", b"vgl_")
SETTINGS_CACHE_SECONDS = 30.0
_KEY_MEMO_LIMIT = 50_000


def looks_like_card(digits: str) -> bool:
    """A digit run (13-19 digits) a payment card could have: it passes the Luhn check and starts
    as issued cards do. The first digit is the card's industry: 2-6 are the networks (Mastercard
    2-series, Amex/Diners/JCB, Visa, Mastercard/Maestro, Discover/UnionPay), 1 only for 15-digit
    UATP cards; 0, 7, 8 and 9 issue none. This spares what logs are full of: epoch times in ms, us
    and ns (13, 16 and 19 digits starting with 1 until 2033), of which a tenth pass the Luhn check."""
    first = digits[0]
    return ("2" <= first <= "6" or (first == "1" and len(digits) == 15)) and luhn_valid(digits)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = ord(char) - 48
        if index % 2:
            number = number * 2 - 9 if number > 4 else number * 2
        total += number
    return total % 10 == 0


class Redactor:
    def __init__(self, extra_keys: tuple[str, ...] = (), extra_patterns: tuple[str, ...] = ()) -> None:
        self.key_fragments = tuple(k.lower() for k in DEFAULT_KEYS + extra_keys)
        self.pattern = _DEFAULT_PATTERN
        # Validated when saved; a pattern stored before RE2 was required and that RE2 refuses is
        # left out (and logged) rather than run in a backtracking engine.
        self.custom_pattern = (
            compile_patterns(extra_patterns, on_error=_skip_pattern) if extra_patterns else None
        )
        self._key_memo: dict[str, bool] = {}
        # Project patterns are arbitrary regular expressions: no prefilter can vouch for them.
        self.has_custom_patterns = bool(extra_patterns)

    def is_sensitive_key(self, key: str) -> bool:
        verdict = self._key_memo.get(key)
        if verdict is None:
            lowered = key.lower()
            verdict = any(fragment in lowered for fragment in self.key_fragments)
            if len(self._key_memo) < _KEY_MEMO_LIMIT:
                self._key_memo[key] = verdict
        return verdict

    def may_match(self, value: str) -> bool:
        """False only when `value` certainly needs no masking (the hot path's shortcut)."""
        return self.may_match_bytes(value.encode("utf-8", "surrogatepass"))

    def may_match_bytes(self, data: bytes) -> bool:
        """The same for UTF-8 bytes, and for orjson output: it escapes only quotes, backslashes and
        control characters, none of which can hide a digit run, a scheme name or a key prefix.
        Every text the default patterns match also passes this check (it is looser)."""
        if self.has_custom_patterns:
            return True
        folded = data.translate(_QUICK_TABLE)
        return any(folded.rfind(needle) >= 0 for needle in _QUICK_NEEDLES)

    def text(self, value: str) -> str:
        if self.pattern.search(value) is not None:
            value = self.pattern.sub(self._mask, value)
        if self.custom_pattern is not None:
            try:
                if self.custom_pattern.search(value) is not None:
                    value = self.custom_pattern.sub(REDACTED, value)
            except UnicodeEncodeError:  # a lone surrogate (RE2 matches UTF-8): stored escaped anyway
                value = value.encode("utf-8", "backslashreplace").decode("utf-8")
                value = self.custom_pattern.sub(REDACTED, value)
        return value

    @staticmethod
    def _mask(match: re.Match[str]) -> str:
        found = match.group(0)
        digits = re.sub(r"[ -]", "", found)
        if digits.isdigit() and not looks_like_card(digits):
            return found  # an order number or timestamp, not a card
        return REDACTED


def _skip_pattern(pattern: str, message: str) -> None:
    logger.warning(
        "redaction pattern skipped: RE2 refuses it", extra={"pattern": pattern[:200], "error": message}
    )


_DEFAULT_PATTERN = re.compile("|".join(f"(?:{p})" for p in DEFAULT_PATTERNS))
_default = Redactor()
_per_project: dict[int, tuple[float, Redactor]] = {}
_lock = threading.Lock()


def redactor_for(project_id: int) -> Redactor:
    """The project's redactor, re-read from the database at most every SETTINGS_CACHE_SECONDS."""
    now = time.monotonic()
    cached = _per_project.get(project_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    row = (
        IngestionSettings.objects.filter(project_id=project_id)
        .values("redact_keys", "redact_patterns")
        .first()
    )
    redactor = _default
    if row and (row["redact_keys"] or row["redact_patterns"]):
        redactor = Redactor(tuple(row["redact_keys"]), tuple(row["redact_patterns"]))
    with _lock:
        _per_project[project_id] = (now + SETTINGS_CACHE_SECONDS, redactor)
    return redactor


def forget_settings(project_id: int | None = None) -> None:
    with _lock:
        if project_id is None:
            _per_project.clear()
        else:
            _per_project.pop(project_id, None)
