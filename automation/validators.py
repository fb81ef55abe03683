import re

from django.core.exceptions import ValidationError

NAME_RULE = (
    "Names are 1 to 128 characters: letters A-Z and a-z, digits, spaces, '-', '_' and '.', "
    "do not start or end with a space, and are not only dots."
)
_NAME = re.compile(r"[A-Za-z0-9._-]([A-Za-z0-9 ._-]{0,126}[A-Za-z0-9._-])?")


def validate_name(value: str) -> None:
    # Only-dots names would be read as "." and ".." path segments in URLs.
    if not isinstance(value, str) or not _NAME.fullmatch(value) or not value.strip("."):
        raise ValidationError(NAME_RULE, code="invalid_name")
