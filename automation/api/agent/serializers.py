import math
import re

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from automation.api.fields import NameField, StrictIntegerField
from automation.models.jobs import FINAL_STATUSES, JobStream
from automation.models.runbooks import RunbookType
from automation.services.jobs import MAX_SEQ
from automation.services.workers import MAX_CAPACITY
from automation.validators import (
    MACHINE_ID_MAX_LENGTH,
    MACHINE_ID_MIN_LENGTH,
    MACHINE_ID_PATTERN,
)

# A batch of stream records: with each record's text up to 1 MiB, AGENT_STREAM_MAX_BODY_BYTES binds first.
MAX_RECORDS = 10_000
# Byte counts are stored as reported and shown on pages: whatever a signed 64-bit integer holds.
MAX_BYTES = 2**63 - 1


MAX_LOAD = 1_000_000.0
MAX_CLOCK = 253_402_300_799.0  # 9999-12-31T23:59:59Z


class StrictFloatField(serializers.FloatField):
    """Finite numbers only: "0.5" and true are refused rather than coerced, and so are NaN and Infinity."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise serializers.ValidationError("Must be a number.")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            raise serializers.ValidationError("Must be a finite number.")
        return value


class StrictUUIDField(serializers.UUIDField):
    """UUIDs as text only: DRF's UUIDField would read 5 as 00000000-0000-0000-0000-000000000005."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a UUID in text form.")
        return super().to_internal_value(data)


def validate_machine_id(value: str) -> None:
    """The characters of automation.validators' machine-id rule; its lengths are the field's own min_length and
    max_length (MACHINE_ID_FIELD), so DRF says those in its words."""
    if re.fullmatch(MACHINE_ID_PATTERN, value) is None:
        raise serializers.ValidationError("Must hold ASCII letters, digits, '-', '_' and '.' only.")


class StrictStringField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.")
        value = super().to_internal_value(data)
        if any(ord(c) < 32 and c not in "\t" for c in value):
            raise serializers.ValidationError("Must not contain control characters.")
        return value


MACHINE_ID_FIELD = {
    "min_length": MACHINE_ID_MIN_LENGTH,
    "max_length": MACHINE_ID_MAX_LENGTH,
    "validators": [validate_machine_id],
}


class ReportedTextField(serializers.CharField):
    """Text a run produced (an end report's reason): any string. It is shown, so what the database cannot
    hold (NUL, a lone surrogate) is stored as U+FFFD by the service rather than refused here."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)
        unstorable = (ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator)
        self.validators = [v for v in self.validators if not isinstance(v, unstorable)]

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.")
        return data


class FactsSerializer(serializers.Serializer):
    """What an agent reports about its host. Every field is optional; unknown ones are ignored."""

    hostname = StrictStringField(max_length=255, required=False)
    os = StrictStringField(max_length=200, required=False)
    ip_addresses = serializers.ListField(child=StrictStringField(max_length=64), max_length=32, required=False)
    cpu_count = StrictIntegerField(min_value=1, max_value=4096, required=False)
    memory_bytes = StrictIntegerField(min_value=0, max_value=MAX_BYTES, required=False)
    memory_available_bytes = StrictIntegerField(min_value=0, max_value=MAX_BYTES, required=False)
    disk_free_bytes = StrictIntegerField(min_value=0, max_value=MAX_BYTES, required=False)
    # Bounds a page can show: a load average per CPU of at most a million, a clock within years 1970 to 9999.
    load = serializers.ListField(child=StrictFloatField(min_value=0, max_value=MAX_LOAD), max_length=3, required=False)
    agent_version = StrictStringField(max_length=32, required=False)
    python_version = StrictStringField(max_length=32, required=False)
    capacity = StrictIntegerField(min_value=1, max_value=MAX_CAPACITY, required=False)
    clock = StrictFloatField(
        min_value=0, max_value=MAX_CLOCK, required=False, help_text="The agent's clock (Unix time) when it sent this."
    )


class RegisterRequest(serializers.Serializer):
    group = NameField(help_text="Hybrid worker group to join; created if it does not exist.")
    machine_id = StrictStringField(**MACHINE_ID_FIELD, help_text="Identity the agent generated once.")
    name = NameField(help_text="Display name, unique in the group (default: the host name).")
    facts = FactsSerializer(required=False, default=dict)


class RegisterResponse(serializers.Serializer):
    worker_id = serializers.UUIDField()
    name = serializers.CharField()
    group = serializers.CharField()
    account_id = serializers.UUIDField()
    credential = serializers.CharField(help_text="This worker's own credential. Shown once; keep it secret.")
    heartbeat_interval = serializers.IntegerField(help_text="Seconds between heartbeats.")
    long_poll_timeout = serializers.IntegerField(help_text="Seconds a job fetch may wait for work.")
    renewed = serializers.BooleanField(help_text="True when this machine was registered in the group already.")


class HeldJobSerializer(serializers.Serializer):
    id = StrictUUIDField()
    lease = StrictUUIDField()


class HeartbeatRequest(serializers.Serializer):
    # As many jobs as the largest capacity: the body limit (AGENT_MAX_BODY_BYTES) has room for them.
    facts = FactsSerializer(required=False, default=dict)
    jobs = serializers.ListField(
        child=HeldJobSerializer(),
        required=False,
        max_length=MAX_CAPACITY,
        help_text=(
            "The jobs this agent holds, with their leases, until their end is acknowledged: any it no longer "
            "holds makes the answer 409; a job claimed for it a while ago that it does not list (the answer "
            "that carried it was lost, or the agent restarted) is taken back."
        ),
    )


class StaleLeaseResponse(serializers.Serializer):
    code = serializers.CharField(help_text="stale_lease")
    detail = serializers.CharField()
    lost = serializers.ListField(child=serializers.UUIDField(), help_text="Jobs this worker lost: end them.")


class LeaveResponse(serializers.Serializer):
    released = serializers.IntegerField(help_text="Jobs still held that were taken back (queued again or ended).")


class HeartbeatResponse(serializers.Serializer):
    worker_id = serializers.UUIDField()
    name = serializers.CharField()
    group = serializers.CharField()
    heartbeat_interval = serializers.IntegerField()
    server_time = serializers.FloatField(help_text="The server's clock (Unix time), to check for skew.")


class DeregisterRequest(serializers.Serializer):
    machine_id = StrictStringField(
        min_length=8,
        max_length=64,
        required=False,
        validators=[validate_machine_id],
        help_text="Needed when deregistering with an account key.",
    )


class DeregisterResponse(serializers.Serializer):
    removed = serializers.CharField(help_text="Name of the worker that was removed.")
    group = serializers.CharField()


class NextJobsRequest(serializers.Serializer):
    wait = StrictFloatField(
        required=False, min_value=0, max_value=3600, help_text="Seconds to wait for work (capped by the server)."
    )
    stopping = serializers.ListField(
        child=StrictUUIDField(),
        required=False,
        default=list,
        max_length=MAX_CAPACITY,
        help_text="Jobs this agent is already stopping: their stop requests need not answer the wait again.",
    )


class JobPayloadSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    lease = serializers.UUIDField(help_text="Send it back with every report on this job.")
    runbook = serializers.CharField()
    version = serializers.IntegerField(help_text="The published version; 0 for a Test pane run of the draft.")
    runbook_type = serializers.ChoiceField(choices=RunbookType.choices)
    content = serializers.CharField()
    sha256 = serializers.CharField(help_text="SHA-256 of content; check it before running.")
    parameters = serializers.DictField()
    declared = serializers.ListField(child=serializers.DictField())
    timeout_seconds = serializers.IntegerField(allow_null=True)
    attempt = serializers.IntegerField(help_text="1, or more when a lost worker's job is run again.")
    webhook_data = serializers.JSONField(
        allow_null=True,
        help_text='The call of the webhook that started the job ({"WebhookName", "RequestBody", "RequestHeader"}), '
        "for the parameters file; null for any other job.",
    )
    run_as = serializers.CharField(
        allow_null=True,
        help_text=(
            "The local user the job runs as (the user name of its group's Run as credential), or null for the "
            "agent's default. The agent runs it so only when allowed (`hybridworker run --allow-run-as`)."
        ),
    )


class NextJobsResponse(serializers.Serializer):
    jobs = JobPayloadSerializer(many=True)
    stop = serializers.ListField(child=serializers.UUIDField(), help_text="Jobs of this worker to stop now.")


# Documents RecordsField: the service checks each record. The management API shows stored records as
# StreamRecord, numbered within the job (seq here is within an attempt) and always with a time.
@extend_schema_serializer(component_name="Record")
class RecordSerializer(serializers.Serializer):
    """One record of a job's output streams, as an agent sends it."""

    seq = serializers.IntegerField(
        min_value=0, max_value=MAX_SEQ, help_text="Per attempt; records are idempotent by seq."
    )
    stream = serializers.ChoiceField(choices=JobStream.Stream.choices)
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)
    time = serializers.DateTimeField(required=False, help_text="When the runbook wrote it, with its UTC offset.")


class RecordsField(serializers.ListField):
    """A batch of stream records, each taken as any object: the service checks them one by one and names a
    bad one by its index, where a nested serializer would refuse the batch in DRF's words. The OpenAPI
    document shows each as a RecordSerializer (schema.RecordsFieldSchema)."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.DictField(), max_length=MAX_RECORDS, **kwargs)


class JobRecordsRequest(serializers.Serializer):
    lease = serializers.UUIDField()
    records = RecordsField()


class JobFinishRequest(JobRecordsRequest):
    records = RecordsField(required=False, default=list)
    status = serializers.ChoiceField(choices=[(status.value, status.label) for status in FINAL_STATUSES])
    # The bounds of the column (a 32-bit integer): a larger number is a 400, not a database error.
    exit_code = StrictIntegerField(required=False, allow_null=True, min_value=-(2**31), max_value=2**31 - 1)
    # Stored cut to jobs.REASON_CHARS: a longer one is a run's long message, not an error of the agent.
    reason = ReportedTextField(required=False, allow_blank=True, max_length=100000)
    claim = StrictIntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=MAX_CAPACITY,
        help_text="Claim up to this many queued jobs in the same exchange (the freed slot's next job).",
    )


class JobAckResponse(serializers.Serializer):
    status = serializers.CharField()
    stop = serializers.BooleanField(help_text="True when a stop was requested: end the job and report Stopped.")


class JobFinishResponse(JobAckResponse):
    jobs = JobPayloadSerializer(many=True, help_text="Jobs claimed in this exchange (when `claim` was asked).")
