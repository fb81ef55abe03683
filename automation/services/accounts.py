from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from automation.models import AutomationAccount, Membership, Role
from automation.services import notifications
from automation.services.access import require_role
from automation.services.actor import Actor
from automation.services.audit import record_event
from automation.services.checks import checked_name
from automation.services.connections import ensure_builtin_connection_types
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from automation.services.keys import ensure_keys
from automation.validators import LINE, text_problem

User = get_user_model()


def _checked_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(label for _, label in Role.choices)
        raise InvalidInput(f"Role must be one of {choices}.", field="role") from None


def create_account(*, name: str, owner, actor: Actor, region: str | None = None) -> AutomationAccount:
    if not actor.system and not (actor.user and actor.user.is_staff):
        raise PermissionDenied("Only staff can create Automation accounts.")
    checked_name(name)
    if owner is None or not owner.is_active:
        raise InvalidInput("The owner must be an active user.", field="owner")
    try:
        with transaction.atomic():
            account = AutomationAccount.objects.create(
                name=name, region=region or _default_region(), created_by=actor.user
            )
            Membership.objects.create(account=account, user=owner, role=Role.OWNER)
            ensure_keys(account=account)
            ensure_builtin_connection_types(account=account)
            record_event(
                actor=actor,
                action="account.create",
                account=account,
                target=account,
                details={"owner": owner.get_username()},
            )
    except IntegrityError:
        raise Conflict(f"An Automation account named {name!r} already exists.", field="name") from None
    return account


def _default_region() -> str:
    return settings.PORTAL_REGION


def add_member(*, account: AutomationAccount, username: str, role: str, actor: Actor) -> Membership:
    require_role(account=account, actor=actor, role=Role.OWNER)
    new_role = _checked_role(role)
    # Not looked up unless it could be a username: a NUL in a query is an error on PostgreSQL, not a miss.
    if not isinstance(username, str) or (problem := text_problem(username, LINE)):
        raise InvalidInput(f"The username {problem or 'is text'}.", field="username")
    user = User.objects.filter(**{User.USERNAME_FIELD: username}, is_active=True).first()
    if user is None:
        raise InvalidInput(f"There is no active user named {username!r}.", field="username")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(account=account, user=user, role=new_role)
            record_event(
                actor=actor,
                action="member.add",
                account=account,
                target=membership,
                details={"user": username, "role": new_role.label},
            )
            notifications.tell_user_about_membership(account=account, user=user, joined=True)
    except IntegrityError:
        raise Conflict(f"{username} is already a member of {account.name}.", field="username") from None
    return membership


def _membership_for_update(account: AutomationAccount, membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_for_update().select_related("user").filter(account=account, pk=membership_id)
    ).first()
    if membership is None:
        raise NotFound("That person is not a member of this account.")
    return membership


def _refuse_losing_last_owner(account: AutomationAccount, membership: Membership) -> None:
    if membership.role != Role.OWNER:
        return
    # Lock every Owner row, so two Owners demoting each other at once cannot both succeed.
    owners = list(
        Membership.objects.select_for_update().filter(account=account, role=Role.OWNER).values_list("pk", flat=True)
    )
    if owners == [membership.pk]:
        raise Conflict(
            f"{membership.user.get_username()} is the last Owner of {account.name}; add another Owner first."
        )


def change_role(*, account: AutomationAccount, membership_id: int, role: str, actor: Actor) -> Membership:
    require_role(account=account, actor=actor, role=Role.OWNER)
    new_role = _checked_role(role)
    with transaction.atomic():
        membership = _membership_for_update(account, membership_id)
        if membership.role == new_role:
            return membership
        if new_role != Role.OWNER:
            _refuse_losing_last_owner(account, membership)
        old_label = membership.get_role_display()
        Membership.objects.filter(pk=membership.pk).update(role=new_role)
        membership.role = new_role
        record_event(
            actor=actor,
            action="member.change_role",
            account=account,
            target=membership,
            details={"user": membership.user.get_username(), "from": old_label, "to": new_role.label},
        )
    return membership


def remove_member(*, account: AutomationAccount, membership_id: int, actor: Actor) -> None:
    require_role(account=account, actor=actor, role=Role.OWNER)
    with transaction.atomic():
        membership = _membership_for_update(account, membership_id)
        _refuse_losing_last_owner(account, membership)
        username = membership.user.get_username()
        record_event(
            actor=actor,
            action="member.remove",
            account=account,
            target=membership,
            details={"user": username, "role": membership.get_role_display()},
        )
        user = membership.user
        membership.delete()
        notifications.tell_user_about_membership(account=account, user=user, joined=False)
