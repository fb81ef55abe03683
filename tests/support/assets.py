"""Shared resources in tests: certificates made on the spot with `cryptography`, every place a secret could
leak to (every stored row, the audit log, the admin's pages), and what the account's pages are told live."""

import asyncio
from datetime import UTC, datetime, timedelta

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from django.urls import reverse

from automation import live
from automation.models import AuditEvent
from automation.services.actor import Actor
from tests.support.state import state

SYSTEM = Actor.for_system()


def as_(user) -> Actor:
    return Actor(user=user, ip="198.51.100.7")


class MadeCertificate:
    """A self-signed certificate and its key, in each form an Owner might upload it."""

    def __init__(self, common_name: str = "runbooks.contoso.test", *, not_after: datetime | None = None):
        now = datetime.now(UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self.not_before = (now - timedelta(days=1)).replace(microsecond=0)
        self.not_after = (not_after or now + timedelta(days=365)).replace(microsecond=0)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after)
            .sign(self.key, hashes.SHA256())
        )
        self.common_name = common_name

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def pfx(self, password: str | None) -> bytes:
        encryption = (
            serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
        )
        return pkcs12.serialize_key_and_certificates(b"upload", self.key, self.cert, None, encryption)

    @property
    def thumbprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA1()).hex().upper()

    @property
    def key_der(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def stored_text() -> str:
    """Every stored row of the domain (audit entries and notifications included) as one text."""
    return repr(state(ignoring=()))


def audit_text() -> str:
    return repr(list(AuditEvent.objects.values()))


def admin_pages(client, model: str, row) -> str:
    """The admin's list of `model` and the row's own page, as the staff member sees them."""
    pages = []
    for url in (
        reverse(f"admin:automation_{model}_changelist"),
        reverse(f"admin:automation_{model}_change", args=[row.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        pages.append(response.content.decode())
    return "\n".join(pages)


def heard_by_account(account_id, act) -> dict:
    """The payload pushed to the account's pages while `act()` runs (after its commit)."""
    layer = get_channel_layer()
    group = live.account_group(account_id)

    async def listen():
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            await sync_to_async(act)()
            return await asyncio.wait_for(layer.receive(channel), timeout=30)
        finally:
            await layer.group_discard(group, channel)

    return async_to_sync(listen)()["payload"]
