"""Input rules as services refuse them: a validator's word, raised as InvalidInput on the field it is about."""

from typing import Any

from django.core.exceptions import ValidationError

from automation.services.errors import InvalidInput
from automation.validators import validate_name


def checked_name(value: Any, *, field: str = "name") -> str:
    """An account's, group's, worker's or runbook's name, by the one name rule (automation.validators)."""
    try:
        validate_name(value)
    except ValidationError as exc:
        raise InvalidInput(exc.messages[0], field=field) from None
    return value
