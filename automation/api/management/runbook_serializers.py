from rest_framework import serializers

from automation.api.agent.serializers import StrictIntegerField
from automation.models import Job, JobStream, Runbook, RunbookVersion
from automation.queries.runbooks import STATES
from automation.queries.waiting import status_reason
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


class RunbookSerializer(serializers.ModelSerializer):
    content = serializers.CharField(source="draft", help_text="The draft.")
    published_version = serializers.IntegerField(allow_null=True, read_only=True)
    state = serializers.ChoiceField(
        choices=STATES,
        read_only=True,
        help_text="As Azure's runbookState: New (never published), Published (the draft is the latest version's "
        "content and parameters) or Edit (the draft differs from it).",
    )
    created = serializers.DateTimeField(source="created_at")
    updated = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Runbook
        fields = [
            "id",
            "name",
            "runbook_type",
            "description",
            "parameters",
            "content",
            "retries",
            "timeout_seconds",
            "published_version",
            "state",
            "created",
            "updated",
        ]


class RunbookCreateSerializer(serializers.Serializer):
    name = serializers.JSONField()
    runbook_type = serializers.JSONField(help_text="python3, bash or powershell")
    description = serializers.JSONField(required=False, default="")
    content = serializers.JSONField(required=False, default="", help_text="The draft.")
    parameters = JSONValue(
        required=False,
        default=list,
        help_text='[{"name", "type": string|int|bool|json|secret, "required", "default"}]',
    )
    retries = retries_field(default=0)
    timeout_seconds = timeout_field("Default timeout of its jobs in seconds (null: none).", default=None)


class RunbookUpdateSerializer(serializers.Serializer):
    description = serializers.JSONField(required=False)
    content = serializers.JSONField(required=False, help_text="The draft.")
    parameters = JSONValue(required=False)
    retries = retries_field()
    timeout_seconds = timeout_field("Default timeout of its jobs in seconds (null: no timeout).")


class VersionSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="number")
    published = serializers.DateTimeField(source="published_at")

    class Meta:
        model = RunbookVersion
        fields = ["id", "version", "runbook_type", "sha256", "parameters", "published", "published_by"]


class JobSerializer(serializers.ModelSerializer):
    runbook = serializers.CharField(source="runbook_name")
    run_on = serializers.CharField(source="group_name")
    worker = serializers.SerializerMethodField()
    created = serializers.DateTimeField(source="created_at")
    started = serializers.DateTimeField(source="started_at", allow_null=True)
    ended = serializers.DateTimeField(source="ended_at", allow_null=True)
    status_reason = serializers.SerializerMethodField(
        help_text="Why it ended as it did; for a Queued job, why it is waiting (no worker, all offline, all busy)."
    )
    version = serializers.SerializerMethodField(help_text="The published version run; null for a Test pane run.")
    pickup_seconds = serializers.FloatField(
        allow_null=True, read_only=True, help_text="From queued to claimed by a worker."
    )
    run_seconds = serializers.FloatField(allow_null=True, read_only=True, help_text="From running to its end.")
    test = serializers.BooleanField(source="is_test", read_only=True, help_text="A Test pane run of the draft.")

    class Meta:
        model = Job
        fields = [
            "id",
            "runbook",
            "version",
            "run_on",
            "status",
            "worker",
            "status_reason",
            "created",
            "started",
            "ended",
            "exit_code",
            "parameters",
            "timeout_seconds",
            "attempt",
            "retries_left",
            "pickup_seconds",
            "run_seconds",
            "test",
        ]

    def get_worker(self, job) -> str | None:
        return job.worker_name or None

    def get_status_reason(self, job) -> str:
        return status_reason(job)

    def get_version(self, job) -> int | None:
        return None if job.is_test else job.version_number


class JobStartSerializer(serializers.Serializer):
    runbook = serializers.JSONField()
    run_on = serializers.JSONField(help_text="The hybrid worker group to run on.")
    parameters = JSONValue(required=False, default=dict)
    timeout_seconds = timeout_field("This job's timeout in seconds (null: the runbook's default).", default=None)


class StreamRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobStream
        fields = ["seq", "stream", "text", "time"]
