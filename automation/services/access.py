"""Who may do what in an account. Strangers get NotFound, so account ids do not leak."""

from automation.models import AutomationAccount, Membership, Role
from automation.services.actor import Actor
from automation.services.errors import NotFound, PermissionDenied

_ROLE_WORDS = {Role.OWNER: "an Owner", Role.OPERATOR: "an Operator or Owner", Role.READER: "a member"}


def role_of(*, account: AutomationAccount, actor: Actor) -> Role | None:
    if actor.system:
        return Role.OWNER
    if actor.user is None:
        return None
    role = Membership.objects.filter(account=account, user=actor.user).values_list("role", flat=True).first()
    return Role(role) if role else None


def require_role(*, account: AutomationAccount, actor: Actor, role: Role) -> Role:
    have = role_of(account=account, actor=actor)
    if have is None:
        raise NotFound("No such Automation account.")
    if not have.allows(role):
        raise PermissionDenied(f"Only {_ROLE_WORDS[role]} of {account.name} can do this.")
    return have
