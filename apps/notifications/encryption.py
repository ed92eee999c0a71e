"""Channel secrets encrypted at rest: webhook signing secrets and the whole channel config (Slack
webhook URLs and PagerDuty routing keys are credentials; webhook URLs often carry tokens too).

Design note. The columns hold Fernet tokens (AES-128-CBC + HMAC-SHA256, from `cryptography`),
made by model fields that encrypt on save and decrypt on load, so the code that reads
`channel.config["url"]` or `channel.secret` is unchanged and nothing else sees a token. Keys come
from CHANNEL_ENCRYPTION_KEYS (a list of passphrases), or from SECRET_KEY and SECRET_KEY_FALLBACKS
when it is empty; each passphrase becomes a Fernet key through HKDF-SHA256. MultiFernet encrypts
with the first and decrypts with any, which is how keys rotate: put the new one first, run
`manage.py channel_secrets_rotate` (re-encrypts every row with it), then drop the old one.
A row no key can decrypt is a configuration error, raised loudly: sending with a wrong secret
would be worse than not sending.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

# Fixed salt and info: the key must be the same in every process from the same passphrase; the
# passphrase is the secret. `info` keeps these keys apart from any other use of SECRET_KEY.
_SALT = b"vigil.notifications"
_INFO = b"channel secrets at rest v1"
TOKEN_PREFIX = "gAAAAA"  # every Fernet token (version byte 0x80, base64): tells plain text apart


def passphrases() -> tuple[str, ...]:
    configured = tuple(settings.CHANNEL_ENCRYPTION_KEYS)
    if configured:
        return configured
    return (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    derived = []
    for passphrase in keys:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO)
        derived.append(Fernet(base64.urlsafe_b64encode(hkdf.derive(passphrase.encode()))))
    return MultiFernet(derived)


def fernet() -> MultiFernet:
    return _fernet(passphrases())


def encrypt(plain: str) -> str:
    return fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A notification channel's secrets cannot be decrypted with the configured keys: set"
            " CHANNEL_ENCRYPTION_KEYS (or SECRET_KEY/SECRET_KEY_FALLBACKS) to include the key they"
            " were encrypted with."
        ) from None


def rotate(token: str) -> str:
    """The token re-encrypted with the first key (MultiFernet.rotate)."""
    return fernet().rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A string stored as a Fernet token; "" stays "" (no secret is not a secret)."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return decrypt(value) if value else value

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        value = super().get_db_prep_value(value, connection, prepared)
        return encrypt(value) if value else value


class EncryptedJSONField(models.JSONField):  # type: ignore[type-arg]
    """A JSON value stored as a Fernet token of its text, in a text column (no JSON lookups)."""

    def db_type(self, connection: Any) -> str:
        return "text"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return json.loads(decrypt(value), cls=self.decoder)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        return encrypt(json.dumps(value, cls=self.encoder))
