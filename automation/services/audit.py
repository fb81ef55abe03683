import re
from typing import Any

from django.db import models

from automation.models import AuditEvent, AutomationAccount
from automation.services.actor import Actor

# Belt and braces: callers never pass secrets, but a detail named like one is dropped anyway.
_SECRET_NAME = re.compile(r"key|token|secret|password|credential", re.IGNORECASE)


def _scrub(details: dict[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if _SECRET_NAME.search(k) else v) for k, v in details.items()}


def record_event(
    *,
    actor: Actor,
    action: str,
    account: AutomationAccount | None = None,
    target: models.Model | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        account=account,
        actor=actor.user,
        actor_name=actor.name,
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_name=str(target)[:255] if target is not None else "",
        details=_scrub(details or {}),
        source_ip=actor.ip,
    )
