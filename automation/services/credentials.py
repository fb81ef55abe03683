"""Credentials: a user name anyone in the account may read and a password only a running job gets."""

from typing import Any

from django.db import transaction

from automation.models import AutomationAccount, Credential
from automation.services import assets, sealing
from automation.services.actor import Actor
from automation.services.assets import UNSET
from automation.services.errors import Conflict, InvalidInput
from automation.validators import CODE, LINE, text_problem

MAX_USERNAME_CHARS = 256
MAX_PASSWORD_CHARS = 8192
_KIND = "credential"


def _checked_username(username: Any) -> str:
    if not isinstance(username, str) or not username.strip() or len(username) > MAX_USERNAME_CHARS:
        raise InvalidInput(f"The user name is 1 to {MAX_USERNAME_CHARS} characters.", field="username")
    if problem := text_problem(username, LINE):
        raise InvalidInput(f"The user name {problem}.", field="username")
    return username


def _checked_password(password: Any) -> str:
    # Passwords are taken as typed (spaces, line breaks and all); only what no database stores is refused.
    # The messages say where, never what.
    if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"The password is 1 to {MAX_PASSWORD_CHARS} characters.", field="password")
    if problem := text_problem(password, CODE):
        raise InvalidInput(f"The password {problem}.", field="password")
    return password


def _seal(credential: Credential, account: AutomationAccount, password: str) -> None:
    credential.sealed_password = sealing.seal(
        account=account, kind=_KIND, row_id=credential.pk, field="password", plaintext=password
    )


def create_credential(
    *,
    account: AutomationAccount,
    name: str,
    username: str,
    password: str,
    description: str = "",
    actor: Actor,
) -> Credential:
    assets.require_writer(account=account, actor=actor)
    assets.checked_asset_name(name)
    _checked_username(username)
    _checked_password(password)
    assets.checked_description(description)
    assets.refuse_taken_name(Credential, account=account, name=name)
    with assets.creating(Credential, account=account, name=name):
        credential = Credential(account=account, name=name, username=username, description=description)
        assets.stamp(credential, actor, created=True)
        _seal(credential, account, password)
        credential.save(force_insert=True)
        assets.announce(actor=actor, account=account, row=credential, verb="create")
    return credential


def update_credential(
    *,
    account: AutomationAccount,
    name: str,
    actor: Actor,
    username: Any = UNSET,
    password: Any = UNSET,
    description: Any = UNSET,
) -> Credential:
    assets.require_writer(account=account, actor=actor)
    changes = {}
    if username is not UNSET:
        changes["username"] = _checked_username(username)
    if password is not UNSET:
        changes["password"] = _checked_password(password)
    if description is not UNSET:
        changes["description"] = assets.checked_description(description)
    with transaction.atomic():
        credential = assets.find(Credential, account=account, name=name, lock=True)
        if not changes:
            return credential
        for field, value in changes.items():
            if field == "password":
                _seal(credential, account, value)
            else:
                setattr(credential, field, value)
        assets.stamp(credential, actor)
        credential.save()
        assets.announce(
            actor=actor, account=account, row=credential, verb="change", details={"fields": sorted(changes)}
        )
    return credential


def delete_credential(*, account: AutomationAccount, name: str, actor: Actor) -> None:
    assets.require_writer(account=account, actor=actor)
    with transaction.atomic():
        credential = assets.find(Credential, account=account, name=name, lock=True)
        # As in Azure: a group's Run as setting would silently fall back to the agent's default user.
        groups = list(credential.run_as_groups.order_by("name").values_list("name", flat=True))
        if groups:
            raise Conflict(
                f"Credential {credential.name!r} is the Run as credential of hybrid worker group(s) "
                f"{', '.join(groups)}. Set their Run as to Default or another credential first.",
                code="credential_in_use",
            )
        assets.announce(actor=actor, account=account, row=credential, verb="delete")
        credential.delete()


def read_credential_secret(credential: Credential) -> dict[str, str]:
    """{"username", "password"}, decrypted: for a running job only (the caller checks and audits that)."""
    password = sealing.unseal(
        account=credential.account,
        kind=_KIND,
        row_id=credential.pk,
        field="password",
        sealed=credential.sealed_password,
    )
    return {"username": credential.username, "password": password}
