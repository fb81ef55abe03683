"""Management API v1: jobs (start, read, stop) and their output streams."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from automation.api import schema as openapi
from automation.api.errors import get_or_not_found
from automation.api.management.job_fields import ChildJobsField, JSONValue, timeout_field
from automation.api.management.scoping import AccountScoped
from automation.models import Job, JobStream, StartedBy
from automation.queries.jobs import BadFilter, jobs_of, stream_position, streams_of, with_children
from automation.queries.waiting import annotate_waiting_reasons, status_reason
from automation.services import jobs as job_services

STARTED_BY = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": StartedBy.values},
        "name": {
            "type": "string",
            "description": "The user (for user and api), the schedule, the webhook, or the parent job's id.",
        },
    },
    "required": ["kind", "name"],
    "description": "How the job was started, and by whom.",
}


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
    parent_job = serializers.UUIDField(
        source="parent_id", allow_null=True, read_only=True, help_text="The job whose runbook started this one."
    )
    child_jobs = ChildJobsField()
    started_by = serializers.SerializerMethodField()
    scheduled_for = serializers.DateTimeField(
        allow_null=True,
        read_only=True,
        help_text="A schedule's job: the fire time it was started for (queued later than this, it ran late).",
    )

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
            "parent_job",
            "child_jobs",
            "started_by",
            "scheduled_for",
        ]

    def get_worker(self, job) -> str | None:
        return job.worker_name or None

    def get_status_reason(self, job) -> str:
        return status_reason(job)

    @extend_schema_field(STARTED_BY)
    def get_started_by(self, job) -> dict:
        return {"kind": job.started_by_kind, "name": job.started_by}

    def get_version(self, job) -> int | None:
        return None if job.is_test else job.version_number


class JobStartSerializer(serializers.Serializer):
    runbook = serializers.JSONField()
    run_on = serializers.JSONField(help_text="The hybrid worker group to run on.")
    parameters = JSONValue(required=False, default=dict)
    timeout_seconds = timeout_field("This job's timeout in seconds (null: the runbook's default).", default=None)


# A record as stored (seq numbered within the job, across attempts), where the agent API's Record is one
# as sent (seq within its attempt, time optional): the stream and its choices come from the model in both.
class StreamRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobStream
        fields = ["seq", "stream", "text", "time"]


@extend_schema(tags=["jobs"])
class JobList(AccountScoped, generics.ListAPIView):
    serializer_class = JobSerializer

    def get_queryset(self):
        try:
            return with_children(jobs_of(self.get_account(), self.request.query_params))
        except BadFilter as exc:
            raise ValidationError({exc.key: [str(exc)]}) from None

    @extend_schema(**openapi.listing(JobSerializer, filters=openapi.JOB_FILTERS))
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        annotate_waiting_reasons(page if page is not None else queryset)
        return page

    @extend_schema(
        request=openapi.JobStartRequestSchema,
        responses={201: JobSerializer, **openapi.errors(*openapi.MANAGEMENT_WRITE)},
        description=(
            "The runbook must have a published version and the group must exist; the parameters must be the ones "
            "the published version declares (400 names the one at fault)."
        ),
    )
    def post(self, request, account_id):
        data = JobStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        job = job_services.start_job(
            account=self.get_account(),
            runbook_name=values["runbook"],
            group_name=values["run_on"],
            parameters=values.get("parameters"),
            timeout_seconds=values.get("timeout_seconds"),
            actor=self.actor(),
        )
        annotate_waiting_reasons([job])
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobScoped(AccountScoped):
    def get_job(self):
        job_id = self.kwargs["job_id"]
        detail = f"Job {job_id} was not found in this Automation account."
        return get_or_not_found(jobs_of(self.get_account(), tests=True), detail, pk=job_id)


@extend_schema(tags=["jobs"], **openapi.reading(JobSerializer))
class JobDetail(JobScoped, generics.RetrieveAPIView):
    serializer_class = JobSerializer

    def get_object(self):
        job = self.get_job()
        annotate_waiting_reasons([job])
        return job


class JobStop(JobScoped, APIView):
    @extend_schema(
        tags=["jobs"],
        request=None,
        responses={
            200: JobSerializer,
            **openapi.errors(*openapi.MANAGEMENT_ACTION, 409, _409="The job already ended."),
        },
    )
    def post(self, request, account_id, job_id):
        job = job_services.request_stop(job=self.get_job(), actor=self.actor())
        return Response(JobSerializer(job).data)


@extend_schema(tags=["jobs"], **openapi.listing(StreamRecordSerializer, filters=openapi.STREAM_FILTERS))
class JobStreams(JobScoped, generics.ListAPIView):
    serializer_class = StreamRecordSerializer

    def get_queryset(self):
        stream = self.request.query_params.get("stream")
        try:
            after = stream_position(self.request.query_params.get("after"))
        except BadFilter as exc:
            raise ValidationError({exc.key: [str(exc)]}) from None
        if stream and stream not in JobStream.Stream.values:
            raise ValidationError({"stream": [f"One of {', '.join(JobStream.Stream.values)}."]})
        return streams_of(self.get_job(), after=after, stream=stream)
