from rest_framework import serializers

from automation.models import Job, JobStream, Runbook, RunbookVersion


class RunbookSerializer(serializers.ModelSerializer):
    content = serializers.CharField(source="draft", help_text="The draft.")
    published_version = serializers.IntegerField(allow_null=True, read_only=True)
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
            "published_version",
            "created",
            "updated",
        ]


class RunbookCreateSerializer(serializers.Serializer):
    name = serializers.JSONField()
    runbook_type = serializers.JSONField(help_text="python3, bash or powershell")
    description = serializers.JSONField(required=False, default="")
    content = serializers.JSONField(required=False, default="", help_text="The draft.")
    parameters = serializers.JSONField(
        required=False, default=list, help_text='[{"name", "type": string|int|bool|json, "required", "default"}]'
    )


class RunbookUpdateSerializer(serializers.Serializer):
    description = serializers.JSONField(required=False)
    content = serializers.JSONField(required=False, help_text="The draft.")
    parameters = serializers.JSONField(required=False)


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

    class Meta:
        model = Job
        fields = [
            "id",
            "runbook",
            "run_on",
            "status",
            "worker",
            "status_reason",
            "created",
            "started",
            "ended",
            "exit_code",
            "parameters",
        ]

    def get_worker(self, job) -> str | None:
        return job.worker_name or None


class JobStartSerializer(serializers.Serializer):
    runbook = serializers.JSONField()
    run_on = serializers.JSONField(help_text="The hybrid worker group to run on.")
    parameters = serializers.JSONField(required=False, default=dict)
    timeout_seconds = serializers.JSONField(required=False, default=None)


class StreamRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobStream
        fields = ["seq", "stream", "text", "time"]
