"""Serializer fields that more than one resource of the management API takes."""

from drf_spectacular.utils import extend_schema_field
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


@extend_schema_field({"type": "array", "items": {"type": "string", "format": "uuid"}, "readOnly": True})
class ChildJobsField(serializers.Field):
    """The jobs a job's runbook started (Start-AutomationRunbook), oldest first: read from the prefetched
    children when the list prefetched them (queries.jobs.with_children), so a page costs one query for all."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "The jobs this job's runbook started, oldest first.")
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, job):
        return [str(child.pk) for child in sorted(job.children.all(), key=lambda child: child.created_at)]
