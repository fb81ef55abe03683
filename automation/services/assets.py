"""What the four kinds of shared resources have in common: names, descriptions, who may change them,
how a change is audited and announced. The kinds themselves are in variables.py, credentials.py,
certificates.py and connections.py, whose functions all take keyword arguments only:

    create_<kind>(*, account, name, ..., description="", actor) -> row
    update_<kind>(*, account, name, actor, <field>=UNSET, ..., description=UNSET) -> row
    delete_<kind>(*, account, name, actor) -> None

Writes need an Operator or Owner; a Reader gets PermissionDenied and a stranger NotFound, as everywhere.
Everything is checked before anything is written, and a refusal leaves nothing behind.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, models, transaction

from automation import live
from automation.models import AutomationAccount, Role
from automation.services.access import require_role
from automation.services.actor import Actor
from automation.services.audit import record_event
from automation.services.checks import checked_name
from automation.services.errors import Conflict, InvalidInput, NotFound
from automation.validators import TEXT, text_problem

# "Leave it as it is": None is a value a variable may take, so updates need a marker of their own.
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET", "__bool__": lambda self: False})()
MAX_DESCRIPTION_CHARS = 512

# The word a person reads for each kind, in errors and in the Activity log ("variable X created").
KIND_WORDS = {
    "variable": "variable",
    "credential": "credential",
    "certificate": "certificate",
    "connectiontype": "connection type",
    "connection": "connection",
}


def kind_of(model: type[models.Model]) -> str:
    return model._meta.model_name


def require_writer(*, account: AutomationAccount, actor: Actor) -> None:
    require_role(account=account, actor=actor, role=Role.OPERATOR)


def checked_asset_name(name: Any) -> str:
    return checked_name(name)


def checked_description(description: Any) -> str:
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        raise InvalidInput(
            f"The description is text of at most {MAX_DESCRIPTION_CHARS} characters.", field="description"
        )
    if problem := text_problem(description, TEXT):
        raise InvalidInput(f"The description {problem}.", field="description")
    return description


def find(model: type[models.Model], *, account: AutomationAccount, name: Any, lock: bool = False, related: tuple = ()):
    """The row of this kind named `name` (case-insensitively) in the account, or NotFound naming it."""
    rows = model.objects.filter(account=account).select_related(*related)
    if lock:
        rows = rows.select_for_update()
    row = rows.filter(name__iexact=name).first() if isinstance(name, str) else None
    if row is None:
        raise NotFound(f"There is no {KIND_WORDS[kind_of(model)]} named {name!r} in {account.name}.")
    # The caller's account, not a second query for the same row (sealing needs its data key).
    row.account = account
    return row


def refuse_taken_name(model: type[models.Model], *, account: AutomationAccount, name: str) -> None:
    if model.objects.filter(account=account, name__iexact=name).exists():
        raise _taken(model, account, name)


def _taken(model, account: AutomationAccount, name: str) -> Conflict:
    word = KIND_WORDS[kind_of(model)]
    return Conflict(f"A {word} named {name!r} already exists in {account.name}.", field="name")


@contextmanager
def creating(model: type[models.Model], *, account: AutomationAccount, name: str) -> Iterator[None]:
    """One atomic write of a new row; a name taken in between (a race the check above lost) is a Conflict."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        raise _taken(model, account, name) from None


def announce(*, actor: Actor, account: AutomationAccount, row: models.Model, verb: str, details=None) -> None:
    """Audit the change ("variable X created") and, after commit, tell the account's open list blades.
    `details` name fields, never values."""
    kind = kind_of(type(row))
    record_event(actor=actor, action=f"{kind}.{verb}", account=account, target=row, details=details)
    live.after_commit(live.push_to_account, account.pk, {"type": "assets-changed", "kind": kind})


def stamp(row: models.Model, actor: Actor, *, created: bool = False) -> None:
    row.updated_by = actor.name
    if created:
        row.created_by = actor.name


@dataclass
class Change:
    """The row being changed and what changed in it, for the Activity log: field names (in order), never values."""

    row: models.Model
    fields: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def set(self, name: str, value: Any) -> None:
        """Set a field unless `value` is UNSET."""
        if value is not UNSET:
            setattr(self.row, name, value)
            self.fields.append(name)

    def note(self, name: str) -> None:
        """A field the caller changed itself (a sealed one)."""
        self.fields.append(name)


@contextmanager
def changing(model: type[models.Model], *, account: AutomationAccount, name: Any, actor: Actor) -> Iterator[Change]:
    """Change the row named `name` under its lock; if anything changed, stamp, save and announce it once.
    The caller checks its input before, so a refusal leaves the row as it was."""
    with transaction.atomic():
        change = Change(find(model, account=account, name=name, lock=True))
        yield change
        if change.fields:
            stamp(change.row, actor)
            change.row.save()
            details = {"fields": sorted(change.fields), **change.details}
            announce(actor=actor, account=account, row=change.row, verb="change", details=details)


def delete(
    model: type[models.Model],
    *,
    account: AutomationAccount,
    name: Any,
    actor: Actor,
    refuse: Callable[[models.Model], None] | None = None,
) -> None:
    """Delete the row named `name`, unless `refuse(row)` raises (checked under the row's lock)."""
    require_writer(account=account, actor=actor)
    with transaction.atomic():
        row = find(model, account=account, name=name, lock=True)
        if refuse is not None:
            refuse(row)
        announce(actor=actor, account=account, row=row, verb="delete")
        row.delete()


def refuse_while_used(row: models.Model, *, users: models.QuerySet, what: str, fix: str, code: str) -> None:
    """Conflict naming (up to ten of) the rows in `users` that still use `row`, and what to do first."""
    names = list(users.order_by("name").values_list("name", flat=True)[:11])
    if names:
        shown = ", ".join(repr(n) for n in names[:10]) + (" and more" if len(names) > 10 else "")
        word = KIND_WORDS[kind_of(type(row))].capitalize()
        raise Conflict(f"{word} {row.name!r} is used by {what}{shown}: {fix}.", code=code)
