"""Variables: any JSON value, plain or encrypted. An encrypted value is shown to no one again, only to a
running job; a plain variable may be encrypted in place, never the other way."""

import json
from typing import Any

from django.db import transaction

from automation.models import AutomationAccount, Variable
from automation.services import assets, sealing
from automation.services.actor import Actor
from automation.services.assets import UNSET
from automation.services.checks import checked_bool
from automation.services.errors import Conflict, InvalidInput
from automation.validators import json_problem

MAX_VALUE_CHARS = 1_048_576
_KIND = "variable"


def value_text(value: Any) -> str:
    """The JSON text a value is stored as; InvalidInput naming "value" for anything JSON cannot hold.
    The message never quotes the value: it may be a secret."""
    if problem := json_problem(value):
        raise InvalidInput(f"The value {problem}.", field="value")
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidInput(f"The value is at most {MAX_VALUE_CHARS:,} characters of JSON.", field="value")
    return text


def _store(variable: Variable, account: AutomationAccount, text: str) -> None:
    if variable.encrypted:
        variable.value = None
        variable.sealed_value = sealing.seal(
            account=account, kind=_KIND, row_id=variable.pk, field="value", plaintext=text
        )
    else:
        variable.value = text
        variable.sealed_value = ""


def create_variable(
    *,
    account: AutomationAccount,
    name: str,
    value: Any,
    encrypted: bool = False,
    description: str = "",
    actor: Actor,
) -> Variable:
    """A new variable; `encrypted` seals its value, which from then on only a running job reads."""
    assets.require_writer(account=account, actor=actor)
    assets.checked_asset_name(name)
    text = value_text(value)
    checked_bool(encrypted, field="encrypted")
    assets.checked_description(description)
    assets.refuse_taken_name(Variable, account=account, name=name)
    with assets.creating(Variable, account=account, name=name):
        variable = Variable(account=account, name=name, description=description, encrypted=encrypted)
        assets.stamp(variable, actor, created=True)
        _store(variable, account, text)
        variable.save(force_insert=True)
        assets.announce(actor=actor, account=account, row=variable, verb="create", details={"encrypted": encrypted})
    return variable


def update_variable(
    *,
    account: AutomationAccount,
    name: str,
    actor: Actor,
    value: Any = UNSET,
    description: Any = UNSET,
) -> Variable:
    """Replace the value and/or the description. An encrypted variable stays encrypted (its new value sealed)."""
    assets.require_writer(account=account, actor=actor)
    return _update(account=account, name=name, actor=actor, value=value, description=description)


def _update(*, account: AutomationAccount, name: str, actor: Actor, value: Any, description: Any) -> Variable:
    text = value_text(value) if value is not UNSET else None
    if description is not UNSET:
        assets.checked_description(description)
    with assets.changing(Variable, account=account, name=name, actor=actor) as change:
        if text is not None:
            _store(change.row, account, text)
            change.note("value")
        change.set("description", description)
    return change.row


def encrypt_variable(*, account: AutomationAccount, name: str, actor: Actor) -> Variable:
    """Seal a plain variable's value in place. One way: there is no decrypting it back."""
    assets.require_writer(account=account, actor=actor)
    with transaction.atomic():
        variable = assets.find(Variable, account=account, name=name, lock=True)
        if variable.encrypted:
            raise Conflict(f"Variable {variable.name!r} is already encrypted.", code="already_encrypted")
        text = variable.value
        variable.encrypted = True
        _store(variable, account, text)
        assets.stamp(variable, actor)
        variable.save()
        assets.announce(actor=actor, account=account, row=variable, verb="encrypt")
    return variable


def delete_variable(*, account: AutomationAccount, name: str, actor: Actor) -> None:
    assets.delete(Variable, account=account, name=name, actor=actor)


def read_variable_value(variable: Variable) -> Any:
    """The value as a Python object, decrypted: for a running job only (the caller checks and audits that)."""
    if variable.encrypted:
        text = sealing.unseal(
            account=variable.account, kind=_KIND, row_id=variable.pk, field="value", sealed=variable.sealed_value
        )
    else:
        text = variable.value
    return json.loads(text)


def set_variable_value(*, variable: Variable, value: Any, actor: Actor) -> Variable:
    """A running job's Set-AutomationVariable: the caller has checked the job's access; an encrypted
    variable stays encrypted."""
    return _update(account=variable.account, name=variable.name, actor=actor, value=value, description=UNSET)
