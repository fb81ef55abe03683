"""Connection types (a named set of typed fields) and connections (a value for each field of one type).
Encrypted fields are sealed together and, like encrypted variables, shown to no one but a running job.
Every account has Azure's built-in types, which cannot be changed or deleted."""

import json
from typing import Any

from automation.models import AutomationAccount, Connection, ConnectionType
from automation.services import assets, sealing
from automation.services.actor import Actor
from automation.services.assets import UNSET
from automation.services.errors import Conflict, InvalidInput
from automation.validators import (
    PARAMETER_NAME_MAX_LENGTH,
    TEXT,
    int_problem,
    is_name,
    is_parameter_name,
    text_problem,
)

FIELD_TYPES = ("string", "int", "bool")
MAX_FIELDS = 50
MAX_STRING_CHARS = 65_536
_KIND = "connection"

# Azure's own connection types, as every Automation account has them.
BUILTIN_TYPES = {
    "AzureServicePrincipal": [
        {"name": "ApplicationId", "type": "string", "encrypted": False},
        {"name": "TenantId", "type": "string", "encrypted": False},
        {"name": "CertificateThumbprint", "type": "string", "encrypted": False},
        {"name": "SubscriptionId", "type": "string", "encrypted": False},
    ],
    "Azure": [
        {"name": "AutomationCertificateName", "type": "string", "encrypted": False},
        {"name": "SubscriptionID", "type": "string", "encrypted": False},
    ],
}


def ensure_builtin_connection_types(*, account: AutomationAccount) -> None:
    """Azure's built-in connection types, made with the account (migration 0008 made them for older ones)."""
    have = set(ConnectionType.objects.filter(account=account, is_builtin=True).values_list("name", flat=True))
    for name, fields in BUILTIN_TYPES.items():
        if name not in have:
            ConnectionType.objects.create(
                account=account, name=name, fields=fields, is_builtin=True, created_by="system", updated_by="system"
            )


# ---- connection types -----------------------------------------------------------------------------------


def checked_fields(fields: Any) -> list[dict[str, Any]]:
    if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_FIELDS:
        raise InvalidInput(f"fields is a list of 1 to {MAX_FIELDS} fields.", field="fields")
    clean, seen = [], set()
    for index, item in enumerate(fields):
        where = f"fields[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} is an object with name, type and encrypted.", field="fields")
        unknown = set(item) - {"name", "type", "encrypted"}
        if unknown:
            raise InvalidInput(f"{where} has unknown keys: {', '.join(sorted(map(str, unknown)))}.", field="fields")
        name = item.get("name")
        if not is_parameter_name(name):
            raise InvalidInput(
                f"{where}.name is a letter or '_' followed by letters, digits or '_' "
                f"({PARAMETER_NAME_MAX_LENGTH} at most).",
                field="fields",
            )
        if name.lower() in seen:
            raise InvalidInput(f"Field {name!r} is declared twice.", field="fields")
        seen.add(name.lower())
        kind = item.get("type", "string")
        if kind not in FIELD_TYPES:
            raise InvalidInput(f"{where}.type is one of {', '.join(FIELD_TYPES)}.", field="fields")
        encrypted = item.get("encrypted", False)
        if not isinstance(encrypted, bool):
            raise InvalidInput(f"{where}.encrypted is true or false.", field="fields")
        clean.append({"name": name, "type": kind, "encrypted": encrypted})
    return clean


def create_connection_type(
    *, account: AutomationAccount, name: str, fields: Any, description: str = "", actor: Actor
) -> ConnectionType:
    assets.require_writer(account=account, actor=actor)
    assets.checked_asset_name(name)
    clean = checked_fields(fields)
    assets.checked_description(description)
    assets.refuse_taken_name(ConnectionType, account=account, name=name)
    with assets.creating(ConnectionType, account=account, name=name):
        connection_type = ConnectionType(account=account, name=name, fields=clean, description=description)
        assets.stamp(connection_type, actor, created=True)
        connection_type.save(force_insert=True)
        assets.announce(actor=actor, account=account, row=connection_type, verb="create")
    return connection_type


def delete_connection_type(*, account: AutomationAccount, name: str, actor: Actor) -> None:
    """Refused for a built-in type, and while connections use the type (naming them)."""

    def refuse(connection_type: ConnectionType) -> None:
        if connection_type.is_builtin:
            raise Conflict(
                f"{connection_type.name!r} is a built-in connection type: it cannot be deleted.", code="builtin"
            )
        assets.refuse_while_used(
            connection_type,
            users=connection_type.connections.all(),
            what="",
            fix="delete those connections first",
            code="connection_type_in_use",
        )

    assets.delete(ConnectionType, account=account, name=name, actor=actor, refuse=refuse)


# ---- connections ------------------------------------------------------------------------------------------


def _checked_value(field: dict[str, Any], value: Any) -> Any:
    name, kind = field["name"], field["type"]
    # The messages name the field, never the value: it may be a secret.
    if kind == "string":
        if not isinstance(value, str) or len(value) > MAX_STRING_CHARS:
            raise InvalidInput(f"Field {name!r} is text of at most {MAX_STRING_CHARS} characters.", field="values")
        if problem := text_problem(value, TEXT):
            raise InvalidInput(f"Field {name!r} {problem}.", field="values")
    elif kind == "int":
        if problem := int_problem(value):
            raise InvalidInput(f"Field {name!r} {problem}.", field="values")
    elif not isinstance(value, bool):
        raise InvalidInput(f"Field {name!r} is true or false.", field="values")
    return value


def checked_values(connection_type: ConnectionType, values: Any) -> dict[str, Any]:
    """A value for every field of the type, each of the field's type; unknown fields refused."""
    if not isinstance(values, dict):
        raise InvalidInput("values is an object of field: value.", field="values")
    fields = {f["name"]: f for f in connection_type.fields}
    unknown = [name for name in values if name not in fields]
    if unknown:
        raise InvalidInput(
            f"Connection type {connection_type.name!r} has no field {str(unknown[0])!r}.", field="values"
        )
    missing = [name for name in fields if name not in values]
    if missing:
        raise InvalidInput(f"Field {missing[0]!r} needs a value.", field="values")
    return {name: _checked_value(field, values[name]) for name, field in fields.items()}


def _store(connection: Connection, account: AutomationAccount, connection_type: ConnectionType, values: dict) -> None:
    secret = {f["name"] for f in connection_type.fields if f["encrypted"]}
    connection.values = {k: v for k, v in values.items() if k not in secret}
    sealed = {k: v for k, v in values.items() if k in secret}
    connection.sealed_values = (
        sealing.seal(account=account, kind=_KIND, row_id=connection.pk, field="values", plaintext=json.dumps(sealed))
        if sealed
        else ""
    )


def _checked_type_name(account: AutomationAccount, name: Any) -> ConnectionType:
    # What no name can be (a NUL among them, which PostgreSQL refuses in a query) is simply no type of the account.
    found = ConnectionType.objects.filter(account=account, name__iexact=name).first() if is_name(name) else None
    if found is None:
        raise InvalidInput(f"There is no connection type named {name!r} in {account.name}.", field="connection_type")
    return found


def create_connection(
    *,
    account: AutomationAccount,
    name: str,
    connection_type: str,
    values: Any,
    description: str = "",
    actor: Actor,
) -> Connection:
    """A connection of the type named `connection_type`, with a value for each of its fields."""
    assets.require_writer(account=account, actor=actor)
    assets.checked_asset_name(name)
    kind = _checked_type_name(account, connection_type)
    clean = checked_values(kind, values)
    assets.checked_description(description)
    assets.refuse_taken_name(Connection, account=account, name=name)
    with assets.creating(Connection, account=account, name=name):
        # delete_connection_type holds the same lock while it looks for users of the type: a connection is
        # either seen there (and the deletion refused) or finds its type gone here.
        if not ConnectionType.objects.select_for_update().filter(pk=kind.pk).exists():
            raise InvalidInput(f"Connection type {kind.name!r} was just deleted.", field="connection_type")
        connection = Connection(account=account, name=name, connection_type=kind, description=description)
        assets.stamp(connection, actor, created=True)
        _store(connection, account, kind, clean)
        connection.save(force_insert=True)
        assets.announce(
            actor=actor, account=account, row=connection, verb="create", details={"connection_type": kind.name}
        )
    return connection


def update_connection(
    *,
    account: AutomationAccount,
    name: str,
    actor: Actor,
    values: Any = UNSET,
    description: Any = UNSET,
) -> Connection:
    """Change some field values (a partial dict: the fields it names) and/or the description."""
    assets.require_writer(account=account, actor=actor)
    if values is not UNSET and not isinstance(values, dict):
        raise InvalidInput("values is an object of field: value.", field="values")
    if description is not UNSET:
        assets.checked_description(description)
    with assets.changing(Connection, account=account, name=name, actor=actor) as change:
        if values is not UNSET:
            kind = change.row.connection_type
            merged = {**read_connection_values(change.row), **values}
            _store(change.row, account, kind, checked_values(kind, merged))
            change.note("values")
        change.set("description", description)
        # The fields named, never their values.
        change.details["values"] = sorted(values) if values is not UNSET else []
    return change.row


def delete_connection(*, account: AutomationAccount, name: str, actor: Actor) -> None:
    assets.delete(Connection, account=account, name=name, actor=actor)


def read_connection_values(connection: Connection) -> dict[str, Any]:
    """Every field's value, encrypted ones decrypted, in the type's order: for a running job only (the
    caller checks and audits that)."""
    sealed = {}
    if connection.sealed_values:
        text = sealing.unseal(
            account=connection.account,
            kind=_KIND,
            row_id=connection.pk,
            field="values",
            sealed=connection.sealed_values,
        )
        sealed = json.loads(text)
    everything = {**connection.values, **sealed}
    return {f["name"]: everything.get(f["name"]) for f in connection.connection_type.fields}
