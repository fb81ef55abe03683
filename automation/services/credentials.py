"""Credentials: a user name anyone in the account may read and a password only a running job gets."""

from typing import Any

from automation.models import AutomationAccount, Credential
from automation.services import assets, sealing
from automation.services.actor import Actor
from automation.services.assets import UNSET
from automation.services.errors import InvalidInput
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
    if username is not UNSET:
        _checked_username(username)
    if password is not UNSET:
        _checked_password(password)
    if description is not UNSET:
        assets.checked_description(description)
    with assets.changing(Credential, account=account, name=name, actor=actor) as change:
        change.set("username", username)
        if password is not UNSET:
            _seal(change.row, account, password)
            change.note("password")
        change.set("description", description)
    return change.row


def delete_credential(*, account: AutomationAccount, name: str, actor: Actor) -> None:
    def refuse(credential: Credential) -> None:
        # As in Azure: a group's Run as setting would silently fall back to the agent's default user.
        assets.refuse_while_used(
            credential,
            users=credential.run_as_groups.all(),
            what="the Run as setting of hybrid worker groups ",
            fix="set their Run as to Default or another credential first",
            code="credential_in_use",
        )

    assets.delete(Credential, account=account, name=name, actor=actor, refuse=refuse)


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
