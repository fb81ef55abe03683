"""Serializer fields both APIs take: a name by the one name rule, and whole numbers that are numbers."""

from django.core.exceptions import ValidationError
from rest_framework import serializers

from automation.validators import NAME_MAX_LENGTH, NAME_RULE, validate_name


class NameField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=NAME_MAX_LENGTH, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError(f"Must be a string. {NAME_RULE}")
        value = super().to_internal_value(data)
        try:
            validate_name(value)
        except ValidationError:
            raise serializers.ValidationError(NAME_RULE) from None
        return value


class StrictIntegerField(serializers.IntegerField):
    """Numbers only: "4" and true are refused rather than coerced."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("Must be a whole number.")
        return super().to_internal_value(data)
