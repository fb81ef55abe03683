"""Sealing: how shared resources' secrets are kept at rest.

Each account has its own 256-bit data key, stored wrapped (Fernet, under ACCOUNT_KEY_ENCRYPTION_KEYS) in
`AutomationAccount.data_key`: rotating those keys re-wraps a data key without touching what it sealed.
A value is sealed with AES-256-GCM under the account's data key, a random 96-bit nonce and the associated
data "<kind>:<row id>:<field>", and stored as "v1." + urlsafe base64(nonce + ciphertext). So a sealed value
copied onto another row, another field or another account's row does not open: it fails, loudly, instead
of handing a job someone else's secret.
"""

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import transaction

from automation.models import AutomationAccount
from automation.services.crypto import decrypt, encrypt, reencrypt
from automation.services.errors import ServiceError

VERSION = "v1."
_NONCE_BYTES = 12
_KEY_BYTES = 32


class SealBroken(ServiceError):
    """A sealed value that does not open: copied from elsewhere, altered, or its key is gone. Never garbage."""

    status = 500
    code = "sealed_value_unreadable"


def _associated_data(kind: str, row_id, field: str) -> bytes:
    return f"{kind}:{row_id}:{field}".encode()


def _unwrapped(account: AutomationAccount, wrapped: str) -> bytes:
    plain = decrypt(wrapped)
    if plain is None:
        raise SealBroken(
            f"The data key of account {account.name} does not open with any of ACCOUNT_KEY_ENCRYPTION_KEYS: "
            "put back the key it was wrapped with (keys may be listed newest first)."
        )
    return base64.urlsafe_b64decode(plain)


def data_key(account: AutomationAccount) -> bytes:
    """The account's data key, made on first use. Two processes making it at once agree on one key."""
    wrapped = account.data_key
    if not wrapped:
        candidate = encrypt(base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode())
        # Only an empty slot is filled: whoever comes second keeps the first one's key, never replaces it
        # (values may already be sealed under it).
        with transaction.atomic():
            AutomationAccount.objects.filter(pk=account.pk, data_key="").update(data_key=candidate)
        wrapped = AutomationAccount.objects.filter(pk=account.pk).values_list("data_key", flat=True).get()
        account.data_key = wrapped
    return _unwrapped(account, wrapped)


def seal(*, account: AutomationAccount, kind: str, row_id, field: str, plaintext: str) -> str:
    """`plaintext` sealed for one field of one row of `account`."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(data_key(account)).encrypt(nonce, plaintext.encode(), _associated_data(kind, row_id, field))
    return VERSION + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(*, account: AutomationAccount, kind: str, row_id, field: str, sealed: str) -> str:
    """The plaintext of a value seal() made for this very account, kind, row and field; SealBroken otherwise."""
    where = f"The sealed {field} of {kind} {row_id}"
    if not isinstance(sealed, str) or not sealed.startswith(VERSION):
        raise SealBroken(f"{where} is not a sealed value this version knows.")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(VERSION) :].encode())
    except ValueError:
        raise SealBroken(f"{where} is damaged.") from None
    nonce, ciphertext = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
    try:
        plain = AESGCM(data_key(account)).decrypt(nonce, ciphertext, _associated_data(kind, row_id, field))
    except (InvalidTag, ValueError):
        raise SealBroken(
            f"{where} does not open: it was sealed for another row, field or account, or it was altered."
        ) from None
    return plain.decode()


def rewrap_data_keys() -> int:
    """Re-wrap every account's data key under the first ACCOUNT_KEY_ENCRYPTION_KEYS entry (after a key
    rotation, before the old key is dropped). Sealed values stay as they are. Returns how many changed."""
    changed = 0
    for pk, wrapped in AutomationAccount.objects.exclude(data_key="").values_list("pk", "data_key"):
        rewrapped = reencrypt(wrapped)
        if rewrapped is None:
            continue
        # Conditional: a concurrent first use cannot be overwritten with a stale key.
        changed += AutomationAccount.objects.filter(pk=pk, data_key=wrapped).update(data_key=rewrapped)
    return changed
