"""Certificates: a .cer (DER or PEM) or a .pfx/PKCS#12 with its password. Readers see what the certificate
says about itself (thumbprint, subject, issuer, validity); the certificate and its key are sealed, and only
a running job gets them, and only when the certificate is exportable. Owners are told before one expires."""

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.db import transaction

from automation.models import AutomationAccount, Certificate, Membership, Notification, Role
from automation.services import assets, sealing
from automation.services.actor import Actor
from automation.services.assets import UNSET
from automation.services.checks import checked_bool
from automation.services.errors import Conflict, InvalidInput
from automation.services.notifications import create_notification

MAX_CONTENT_BYTES = 256 * 1024
_KIND = "certificate"
_NOT_A_CERTIFICATE = (
    "The file is not a certificate: upload a .cer (DER or PEM) or a .pfx/.p12 (PKCS#12) with its password."
)


class NotExportable(Conflict):
    code = "not_exportable"


@dataclass(frozen=True)
class Parsed:
    thumbprint: str
    subject: str
    issuer: str
    not_before: datetime
    expiry_time: datetime
    has_private_key: bool
    pkcs12: bytes


def _looks_like_pkcs12(content: bytes) -> bool:
    """A DER SEQUENCE whose first element is INTEGER 3: the PFX header. Told apart from other DER so that a
    .pfx that does not open is blamed on its password, and anything else on the file."""
    if len(content) < 8 or content[0] != 0x30:
        return False
    first = content[1]
    offset = 2 if first < 0x80 else 2 + (first & 0x7F)
    return content[offset : offset + 3] == b"\x02\x01\x03"


def _load(content: bytes, password: str | None):
    """(certificate, key or None, extra certificates) from the upload; InvalidInput naming the culprit."""
    if content.lstrip().startswith(b"-----BEGIN"):
        try:
            return x509.load_pem_x509_certificate(content), None, []
        except ValueError:
            raise InvalidInput(_NOT_A_CERTIFICATE, field="content_base64") from None
    if _looks_like_pkcs12(content):
        secret = password.encode() if password else None
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(content, secret)
        except ValueError:
            if not password:
                raise InvalidInput("This .pfx file is protected: give its password.", field="password") from None
            raise InvalidInput("The password does not open this .pfx file.", field="password") from None
        extra = list(extra)
        if cert is None and key is None and extra:
            # A .pfx without a key (ours, for a .cer, is one) lists its certificate among the others.
            cert, extra = extra[0], extra[1:]
        if cert is None:
            raise InvalidInput("The .pfx file holds no certificate.", field="content_base64")
        return cert, key, extra
    try:
        return x509.load_der_x509_certificate(content), None, []
    except ValueError:
        raise InvalidInput(_NOT_A_CERTIFICATE, field="content_base64") from None


def _public(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def parse_certificate(*, content: Any, password: Any, name: str) -> Parsed:
    """What the upload says about itself, and our own password-less PKCS#12 of it."""
    if not isinstance(content, bytes | bytearray) or not content:
        raise InvalidInput("Upload a certificate file (.cer, .pfx or .p12).", field="content_base64")
    if len(content) > MAX_CONTENT_BYTES:
        raise InvalidInput(f"A certificate file is at most {MAX_CONTENT_BYTES // 1024} KiB.", field="content_base64")
    if password is not None and (not isinstance(password, str) or len(password) > 1024 or "\x00" in password):
        raise InvalidInput("The password is text of at most 1024 characters.", field="password")
    cert, key, extra = _load(bytes(content), password)
    if key is not None and _public(key.public_key()) != _public(cert.public_key()):
        raise InvalidInput(
            "The private key in the .pfx file does not belong to its certificate.", field="content_base64"
        )
    try:
        bundle = pkcs12.serialize_key_and_certificates(
            name=name.encode(), key=key, cert=cert, cas=extra or None, encryption_algorithm=serialization.NoEncryption()
        )
    except (TypeError, ValueError):
        raise InvalidInput("This kind of certificate key is not supported.", field="content_base64") from None
    return Parsed(
        thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - Azure's thumbprint is SHA-1
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        expiry_time=cert.not_valid_after_utc,
        has_private_key=key is not None,
        pkcs12=bundle,
    )


def _store(certificate: Certificate, account: AutomationAccount, parsed: Parsed) -> None:
    certificate.thumbprint = parsed.thumbprint
    certificate.subject = parsed.subject
    certificate.issuer = parsed.issuer
    certificate.not_before = parsed.not_before
    certificate.expiry_time = parsed.expiry_time
    certificate.has_private_key = parsed.has_private_key
    # A new certificate has its own expiry: its notices start again.
    certificate.expiry_notified = Certificate.Notice.NONE
    certificate.sealed_content = sealing.seal(
        account=account,
        kind=_KIND,
        row_id=certificate.pk,
        field="content",
        plaintext=base64.b64encode(parsed.pkcs12).decode(),
    )


def create_certificate(
    *,
    account: AutomationAccount,
    name: str,
    content: bytes,
    password: str | None = None,
    exportable: bool = False,
    description: str = "",
    actor: Actor,
) -> Certificate:
    """Upload a certificate: `content` is the file's bytes (.cer in DER or PEM, or a .pfx with `password`)."""
    assets.require_writer(account=account, actor=actor)
    assets.checked_asset_name(name)
    parsed = parse_certificate(content=content, password=password, name=name)
    checked_bool(exportable, field="exportable")
    assets.checked_description(description)
    assets.refuse_taken_name(Certificate, account=account, name=name)
    with assets.creating(Certificate, account=account, name=name):
        certificate = Certificate(account=account, name=name, description=description, exportable=exportable)
        assets.stamp(certificate, actor, created=True)
        _store(certificate, account, parsed)
        certificate.save(force_insert=True)
        assets.announce(
            actor=actor, account=account, row=certificate, verb="create", details={"thumbprint": parsed.thumbprint}
        )
    return certificate


def update_certificate(
    *,
    account: AutomationAccount,
    name: str,
    actor: Actor,
    content: Any = UNSET,
    password: str | None = None,
    exportable: Any = UNSET,
    description: Any = UNSET,
) -> Certificate:
    """Change the description or the exportable flag; a new `content` (with its `password`) replaces the
    certificate itself."""
    assets.require_writer(account=account, actor=actor)
    parsed = parse_certificate(content=content, password=password, name=name) if content is not UNSET else None
    if exportable is not UNSET:
        checked_bool(exportable, field="exportable")
    if description is not UNSET:
        assets.checked_description(description)
    with assets.changing(Certificate, account=account, name=name, actor=actor) as change:
        if parsed is not None:
            _store(change.row, account, parsed)
            change.note("content")
        change.set("exportable", exportable)
        change.set("description", description)
        change.details["thumbprint"] = change.row.thumbprint
    return change.row


def delete_certificate(*, account: AutomationAccount, name: str, actor: Actor) -> None:
    assets.delete(Certificate, account=account, name=name, actor=actor)


def certificate_pkcs12(certificate: Certificate) -> bytes:
    """The certificate (and its key, if it came with one) as a password-less PKCS#12: for a running job
    only (the caller checks and audits that), and only when the certificate is exportable."""
    if not certificate.exportable:
        raise NotExportable(
            f"Certificate {certificate.name!r} is not exportable: an Owner or Operator can mark it exportable "
            "in its properties."
        )
    text = sealing.unseal(
        account=certificate.account,
        kind=_KIND,
        row_id=certificate.pk,
        field="content",
        sealed=certificate.sealed_content,
    )
    return base64.b64decode(text)


# ---- expiry notices ------------------------------------------------------------------------------------

NOTICE_DAYS = (30, 7)
# The order notices come in; expiry_notified only moves forward along it.
_RANK = {
    Certificate.Notice.NONE: 0,
    Certificate.Notice.DAYS_30: 1,
    Certificate.Notice.DAYS_7: 2,
    Certificate.Notice.EXPIRED: 3,
}


def notice_due(expiry_time: datetime, now: datetime) -> int:
    """The notice a certificate expiring at `expiry_time` deserves at `now`: the latest that applies, so one
    seen late (3 days left, never told) gets the 7-day notice and not the 30-day one as well."""
    if expiry_time <= now:
        return Certificate.Notice.EXPIRED
    left = expiry_time - now
    if left <= timedelta(days=7):
        return Certificate.Notice.DAYS_7
    if left <= timedelta(days=30):
        return Certificate.Notice.DAYS_30
    return Certificate.Notice.NONE


def _words(certificate: Certificate, notice: int, now: datetime) -> tuple[str, str, str]:
    account = certificate.account.name
    when = certificate.expiry_time.strftime("%Y-%m-%d %H:%M UTC")
    if notice == Certificate.Notice.EXPIRED:
        title = f"Certificate {certificate.name} in {account} has expired"
        level = Notification.Level.ERROR
    else:
        days = max(1, (certificate.expiry_time - now).days)
        title = f"Certificate {certificate.name} in {account} expires in {days} day{'s' if days != 1 else ''}"
        level = Notification.Level.WARNING
    message = (
        f"Certificate {certificate.name} (thumbprint {certificate.thumbprint}, subject {certificate.subject}) "
        f"expires {when}. Upload its renewal on the certificate's properties so runbooks keep working."
    )
    return title[:200], message, level


def send_certificate_expiry_notices(*, now: datetime) -> int:
    """Tell each Owner of an account about its certificates 30 days and 7 days before they expire, and once
    they have expired: each notice once. Returns how many certificates were noticed."""
    horizon = now + timedelta(days=max(NOTICE_DAYS))
    candidates = (
        Certificate.objects.filter(expiry_time__lte=horizon)
        .exclude(expiry_notified=Certificate.Notice.EXPIRED)
        .select_related("account")
        .only("id", "name", "thumbprint", "subject", "expiry_time", "expiry_notified", "account")
    )
    noticed = 0
    for certificate in candidates:
        due = notice_due(certificate.expiry_time, now)
        if _RANK[due] <= _RANK[certificate.expiry_notified]:
            continue
        with transaction.atomic():
            # Two beat runs at once: only the one whose update moves the row on sends the notice.
            moved = Certificate.objects.filter(
                pk=certificate.pk, expiry_notified=certificate.expiry_notified, expiry_time=certificate.expiry_time
            ).update(expiry_notified=due)
            if moved != 1:
                continue
            title, message, level = _words(certificate, due, now)
            owners = Membership.objects.filter(account_id=certificate.account_id, role=Role.OWNER).select_related(
                "user"
            )
            for membership in owners:
                create_notification(
                    account=certificate.account, recipient=membership.user, title=title, message=message, level=level
                )
        noticed += 1
    return noticed
