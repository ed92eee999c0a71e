"""The API key wire format: ``vgl_<scope>_<30 random base62><6 base62 CRC32 checksum>``.

The typed prefix lets secret scanners recognise a leaked Vigil key, and the checksum lets
us (and them) reject a mistyped or made-up key without a database round trip.
30 base62 characters carry ~178 bits of randomness.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import zlib

ALPHABET = string.digits + string.ascii_letters
RANDOM_LENGTH = 30
CHECKSUM_LENGTH = 6
VISIBLE_RANDOM = 8  # characters of the random part that make the public prefix
KEY_RE = re.compile(
    rf"^vgl_(ingest|read|manage)_([0-9A-Za-z]{{{RANDOM_LENGTH}}})([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$"
)


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate(scope: str) -> str:
    body = f"vgl_{scope}_" + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + _checksum(body)


def is_well_formed(secret: str) -> bool:
    match = KEY_RE.match(secret)
    if not match:
        return False
    body = secret[:-CHECKSUM_LENGTH]
    return secrets.compare_digest(_checksum(body), match.group(3))


def public_prefix(secret: str) -> str:
    scope_end = secret.index("_", 4) + 1
    return secret[: scope_end + VISIBLE_RANDOM]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
