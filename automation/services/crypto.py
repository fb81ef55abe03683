"""Secrets at rest: account keys are encrypted (Owners see them again), credentials are hashed."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(value: str) -> str:
    return _fernet(tuple(settings.ACCOUNT_KEY_ENCRYPTION_KEYS)).encrypt(value.encode()).decode()


def decrypt(token: str) -> str | None:
    try:
        return _fernet(tuple(settings.ACCOUNT_KEY_ENCRYPTION_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def new_account_key() -> str:
    """384 random bits, URL-safe: pasted on command lines and in config files."""
    while True:
        key = secrets.token_urlsafe(48)
        # A leading "-" reads as an option on command lines; "hrw_" is how worker credentials start.
        if key[0].isalnum() and not key.startswith("hrw_"):
            return key


def hash_secret(secret: str) -> str:
    # The secrets are 256 random bits, so a fast hash is enough; no salt or stretching needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    # Time that does not depend on where the strings first differ: no guessing a secret a character at a time.
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class IssuedCredential:
    lookup: str
    secret: str
    prefix: str

    @property
    def token(self) -> str:
        return f"{self.prefix}_{self.lookup}_{self.secret}"

    @property
    def secret_hash(self) -> str:
        return hash_secret(self.secret)


def issue_credential(prefix: str) -> IssuedCredential:
    """A token people and logs can recognise by its prefix, found by its lookup id, checked by hash."""
    return IssuedCredential(lookup=secrets.token_hex(8), secret=secrets.token_urlsafe(32), prefix=prefix)


def split_credential(token: str, prefix: str) -> tuple[str, str] | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def reencrypt(token: str) -> str | None:
    """The same secret encrypted under the first (newest) key; None when no key opens it."""
    try:
        return _fernet(tuple(settings.ACCOUNT_KEY_ENCRYPTION_KEYS)).rotate(token.encode()).decode()
    except InvalidToken:
        return None
