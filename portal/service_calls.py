"""How the portal calls a service on a person's behalf: its value, or the refusal to show them.

Forms and dialogs both use it (portal/forms.py, portal/views/dialogs.py), so it depends on neither.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from automation.services.errors import ServiceError


@dataclass(frozen=True)
class Outcome:
    """What a service call came to: its value, or the refusal a person can act on."""

    value: Any = None
    error: ServiceError | None = None

    @property
    def refused(self) -> bool:
        return self.error is not None


def attempt(action: Callable[..., Any], /, **kwargs) -> Outcome:
    """Run a service for a view. A refusal of the request comes back in the outcome for the view to show
    (in a dialog, on a form); not being allowed or not finding the thing (403, 404) is raised, for the
    error pages, which say so without telling a stranger what exists."""
    try:
        return Outcome(value=action(**kwargs))
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        return Outcome(error=error)
