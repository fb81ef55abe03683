"""What the management API tests of the shared resources share: one of each kind in the people's account (each
secret distinctive, so a leak is found by searching for it), their URLs, and the check that no secret is in
what the API gave back, the Activity log or the server's log lines."""

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from automation.services.certificates import create_certificate
from automation.services.connections import create_connection, create_connection_type
from automation.services.credentials import create_credential
from automation.services.variables import create_variable
from tests.support.assets import SYSTEM, MadeCertificate, audit_text

PLAIN = "Plain setting"  # a space: the URLs must encode it
ENCRYPTED = "Secret setting"
CREDENTIAL = "Admin login"
CERTIFICATE = "Web cert"
CONNECTION_TYPE = "Ticket API"
CONNECTION = "Prod tickets"
UNUSED_TYPE = "Unused type"

ENCRYPTED_VALUE = "enc-VALUE-7c1f9e"
PASSWORD = "cred-PASSWORD-5d2a81"
PFX_PASSWORD = "pfx-PASSWORD-93be04"
TOKEN = "conn-TOKEN-e8f337"

TICKET_FIELDS = [
    {"name": "url", "type": "string", "encrypted": False},
    {"name": "token", "type": "string", "encrypted": True},
    {"name": "port", "type": "int", "encrypted": False},
]

ASSET_KEYS = {"name", "description", "created_at", "updated_at"}
VARIABLE_KEYS = ASSET_KEYS | {"value", "encrypted"}
CREDENTIAL_KEYS = ASSET_KEYS | {"username"}
CERTIFICATE_KEYS = ASSET_KEYS | {
    "exportable",
    "thumbprint",
    "subject",
    "issuer",
    "not_before",
    "expiry_time",
    "has_private_key",
}
CONNECTION_TYPE_KEYS = ASSET_KEYS | {"fields", "is_builtin"}
CONNECTION_KEYS = ASSET_KEYS | {"connection_type", "values"}


@dataclass
class AssetWorld:
    people: Any
    made: MadeCertificate
    pfx: bytes = b""  # the certificate's upload, as sent
    secrets: list[str] = field(default_factory=list)

    @property
    def account(self):
        return self.people.account

    def url(self, kind: str, name: str | None = None) -> str:
        rest = f"{kind}/" if name is None else f"{kind}/{quote(name)}/"
        return f"/api/v1/accounts/{self.account.pk}/{rest}"


def make_asset_world(people, made: MadeCertificate | None = None) -> AssetWorld:
    """One of each kind: a plain and an encrypted variable, a credential, an exportable certificate uploaded as
    a .pfx, a connection type with an encrypted field and a connection of it, and a type nothing uses."""
    made = made or MadeCertificate()
    world = AssetWorld(people=people, made=made, pfx=made.pfx(PFX_PASSWORD))
    account = people.account
    create_variable(account=account, name=PLAIN, value={"region": "westeurope", "replicas": 3}, actor=SYSTEM)
    create_variable(account=account, name=ENCRYPTED, value=ENCRYPTED_VALUE, encrypted=True, actor=SYSTEM)
    create_credential(account=account, name=CREDENTIAL, username="svc-admin", password=PASSWORD, actor=SYSTEM)
    create_certificate(
        account=account, name=CERTIFICATE, content=world.pfx, password=PFX_PASSWORD, exportable=True, actor=SYSTEM
    )
    create_connection_type(account=account, name=CONNECTION_TYPE, fields=TICKET_FIELDS, actor=SYSTEM)
    create_connection_type(account=account, name=UNUSED_TYPE, fields=[{"name": "host"}], actor=SYSTEM)
    create_connection(
        account=account,
        name=CONNECTION,
        connection_type=CONNECTION_TYPE,
        values={"url": "https://tickets.contoso.test", "token": TOKEN, "port": 443},
        actor=SYSTEM,
    )
    world.secrets = secrets_of(ENCRYPTED_VALUE, PASSWORD, PFX_PASSWORD, TOKEN, content=world.pfx)
    return world


def secrets_of(*values: str, content: bytes = b"") -> list[str]:
    """The strings no answer may hold: the values, and a certificate's content in base64 (a slice of it, so a
    re-encoding of part of it is caught too)."""
    found = list(values)
    if content:
        encoded = base64.b64encode(content).decode()
        found += [encoded, encoded[40:100]]
    return found


def assert_no_secret(secrets: list[str], *texts: str | bytes) -> None:
    for text in texts:
        text = text.decode(errors="replace") if isinstance(text, bytes) else text
        leaked = [secret for secret in secrets if secret in text]
        assert not leaked, leaked


def assert_no_secret_anywhere(secrets: list[str], responses, caplog) -> None:
    """Nothing secret in the answers (bodies and headers), the Activity log or any log line."""
    for response in responses:
        assert_no_secret(secrets, response.content, repr(sorted(response.items())))
    assert_no_secret(secrets, audit_text(), caplog.text)
