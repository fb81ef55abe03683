"""Shared resources (Azure's "assets"): variables, credentials, certificates, connection types and connections.

Secret material is only ever stored sealed (automation.services.sealing) in the `sealed_*` columns, bound to
the row's id and field and to its account's data key; the other columns hold what Readers may see.
"""

import uuid

from django.db import models
from django.db.models.functions import Lower

from automation.validators import NAME_MAX_LENGTH, validate_name


class Asset(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_name])
    # At most 512 characters: the services enforce it (the column stays a TextField like the runbook's).
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.CharField(max_length=150, blank=True)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        abstract = True
        ordering = [Lower("name"), "name"]

    def __str__(self) -> str:
        return self.name


def _unique_name(kind: str) -> models.UniqueConstraint:
    # Azure's names are case-insensitive: "Password" and "password" are one asset.
    return models.UniqueConstraint(Lower("name"), "account", name=f"{kind}_name_unique_in_account")


class Variable(Asset):
    account = models.ForeignKey("automation.AutomationAccount", on_delete=models.CASCADE, related_name="variables")
    # The JSON text of a plain variable's value (JSON null is the text "null"). NULL for an encrypted one:
    # its value is not on the row at all, which no JSON text could say.
    value = models.TextField(null=True, blank=True)  # noqa: DJ001
    sealed_value = models.TextField(blank=True, editable=False)
    encrypted = models.BooleanField(default=False)

    class Meta(Asset.Meta):
        constraints = [_unique_name("variable")]


class Credential(Asset):
    account = models.ForeignKey("automation.AutomationAccount", on_delete=models.CASCADE, related_name="credentials")
    username = models.CharField(max_length=256)
    sealed_password = models.TextField(blank=True, editable=False)

    class Meta(Asset.Meta):
        constraints = [_unique_name("credential")]


class Certificate(Asset):
    class Notice(models.IntegerChoices):
        NONE = 0, "None"
        DAYS_30 = 30, "30 days before expiry"
        DAYS_7 = 7, "7 days before expiry"
        EXPIRED = -1, "Expired"

    account = models.ForeignKey("automation.AutomationAccount", on_delete=models.CASCADE, related_name="certificates")
    thumbprint = models.CharField(max_length=40)
    subject = models.TextField()
    issuer = models.TextField()
    not_before = models.DateTimeField()
    expiry_time = models.DateTimeField(db_index=True)
    has_private_key = models.BooleanField(default=False)
    exportable = models.BooleanField(default=False)
    # A PKCS#12 we serialised ourselves, without a password: the certificate and, from a .pfx, its key.
    sealed_content = models.TextField(blank=True, editable=False)
    # The last expiry notice sent, so each one goes once (automation.services.certificates).
    expiry_notified = models.SmallIntegerField(choices=Notice.choices, default=Notice.NONE)

    class Meta(Asset.Meta):
        constraints = [_unique_name("certificate")]


class ConnectionType(Asset):
    account = models.ForeignKey(
        "automation.AutomationAccount", on_delete=models.CASCADE, related_name="connection_types"
    )
    # [{"name", "type": "string"|"int"|"bool", "encrypted": bool}], in the order a form shows them.
    fields = models.JSONField(default=list)
    # Azure's own types, made with every account: read-only, never deleted.
    is_builtin = models.BooleanField(default=False)

    class Meta(Asset.Meta):
        verbose_name = "connection type"
        constraints = [_unique_name("connectiontype")]


class Connection(Asset):
    account = models.ForeignKey("automation.AutomationAccount", on_delete=models.CASCADE, related_name="connections")
    connection_type = models.ForeignKey(ConnectionType, on_delete=models.PROTECT, related_name="connections")
    # The plain fields; the encrypted ones are one sealed JSON object in sealed_values.
    values = models.JSONField(default=dict, blank=True)
    sealed_values = models.TextField(blank=True, editable=False)

    class Meta(Asset.Meta):
        constraints = [_unique_name("connection")]
