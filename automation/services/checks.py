"""Input rules as services refuse them: a validator's word, raised as InvalidInput on the field it is about."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from automation.services.errors import InvalidInput
from automation.validators import validate_name


def checked_name(value: Any, *, field: str = "name") -> str:
    """An account's, group's, worker's or runbook's name, by the one name rule (automation.validators)."""
    try:
        validate_name(value)
    except ValidationError as exc:
        raise InvalidInput(exc.messages[0], field=field) from None
    return value


# A day inside what Python and both databases can hold, so that an offset can never carry a time past the end.
EARLIEST_TIME = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST_TIME = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def instant(value: Any) -> datetime | None:
    """An aware datetime, or ISO 8601 text with its UTC offset, as the instant in UTC; None for anything else.
    A time without an offset would be read in the server's zone, and one an offset pushes out of range cannot
    be stored or shown: both are None too, for the caller to refuse in its own words."""
    moment = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            moment = parse_datetime(value)
        except ValueError:  # well formed but not a date, e.g. month 13
            moment = None
    if moment is None or moment.utcoffset() is None:
        return None
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        return None
    return moment if EARLIEST_TIME <= moment <= LATEST_TIME else None


def checked_bool(value: Any, *, field: str) -> bool:
    """true or false, not "true" or 1."""
    if not isinstance(value, bool):
        raise InvalidInput(f"{field} is true or false.", field=field)
    return value
