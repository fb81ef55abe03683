"""Serializer fields that more than one resource of the management API takes."""

from rest_framework import serializers

from automation.api.fields import StrictIntegerField
from automation.services.runbooks import MAX_RETRIES, MAX_TIMEOUT_SECONDS


class JSONValue(serializers.JSONField):
    """Any JSON value, handed on as it came: the service checks it (automation/validators.py) and says
    which parameter holds what it cannot take, where DRF would only say the whole field is not JSON."""

    def to_internal_value(self, data):
        return data


def retries_field(**kwargs) -> StrictIntegerField:
    return StrictIntegerField(
        min_value=0,
        max_value=MAX_RETRIES,
        required=False,
        help_text=f"0 to {MAX_RETRIES}: runs again when its worker is lost while running it.",
        **kwargs,
    )


def timeout_field(help_text: str, **kwargs) -> StrictIntegerField:
    return StrictIntegerField(
        min_value=1, max_value=MAX_TIMEOUT_SECONDS, required=False, allow_null=True, help_text=help_text, **kwargs
    )
