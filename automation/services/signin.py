from django.contrib.auth import get_user_model

from automation.models import AuditEvent
from automation.services.actor import Actor
from automation.services.audit import record_event


def record_lockout(*, username: str, ip: str | None, failures: int) -> AuditEvent:
    """A username was locked out at an address after too many failed sign-ins: an account-less event (the
    admin's Audit events list shows it), recorded as the system's doing, from the address that failed."""
    # The name as typed, which may be nobody's: only the user it names, if any, becomes the target.
    user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
    return record_event(
        actor=Actor(user=None, ip=ip, system=True),
        action="signin.lockout",
        target=user,
        details={"username": username[:150], "failures": failures},
    )
