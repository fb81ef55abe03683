from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser


@dataclass(frozen=True)
class Actor:
    """Who asks for a change, and from where: what the audit log records."""

    user: AbstractBaseUser | None
    ip: str | None = None
    system: bool = False
    # Who acted when no person did, as the Activity log names it ("job 1a2b3c4d on worker web-01"). It grants
    # nothing: without a user such an actor holds no role in any account.
    label: str = ""
    # Through which door a person came, when it matters to what they start: "api" for the management API.
    via: str = ""

    @classmethod
    def for_system(cls) -> "Actor":
        return cls(user=None, ip=None, system=True)

    @classmethod
    def from_request(cls, request, *, via: str = "") -> "Actor":
        user = request.user if request.user.is_authenticated else None
        return cls(user=user, ip=request.META.get("REMOTE_ADDR") or None, via=via)

    @property
    def name(self) -> str:
        if self.user is not None:
            return self.user.get_username()
        return self.label or "system"
