"""Management API v1: runbooks, versions and jobs."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from automation.api import schema as openapi
from automation.api.errors import get_or_not_found
from automation.api.management import runbook_serializers as s
from automation.api.management.views import AccountScoped
from automation.models import JobStream
from automation.queries.jobs import BadFilter, jobs_of, stream_position, streams_of
from automation.queries.runbooks import runbooks_of
from automation.queries.waiting import annotate_waiting_reasons
from automation.services import jobs as job_services
from automation.services import runbooks as runbook_services


class RunbookScoped(AccountScoped):
    def get_runbook(self):
        name = self.kwargs["runbook_name"]
        detail = f"Runbook '{name}' was not found in this Automation account."
        return get_or_not_found(runbooks_of(self.get_account()), detail, name=name)


@extend_schema(tags=["runbooks"])
@extend_schema_view(get=extend_schema(**openapi.listing(s.RunbookSerializer)))
class RunbookList(AccountScoped, generics.ListAPIView):
    serializer_class = s.RunbookSerializer

    def get_queryset(self):
        return runbooks_of(self.get_account())

    @extend_schema(
        request=openapi.RunbookCreateRequestSchema,
        responses={
            201: s.RunbookSerializer,
            **openapi.errors(*openapi.MANAGEMENT_WRITE, 409, _409="A runbook of that name exists in the account."),
        },
    )
    def post(self, request, account_id):
        data = s.RunbookCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        runbook = runbook_services.create_runbook(account=self.get_account(), actor=self.actor(), **data.validated_data)
        runbook = runbooks_of(self.get_account()).get(pk=runbook.pk)
        return Response(s.RunbookSerializer(runbook).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["runbooks"])
@extend_schema_view(get=extend_schema(**openapi.reading(s.RunbookSerializer)))
class RunbookDetail(RunbookScoped, generics.RetrieveAPIView):
    serializer_class = s.RunbookSerializer

    def get_object(self):
        return self.get_runbook()

    @extend_schema(
        request=openapi.RunbookUpdateRequestSchema,
        responses={200: s.RunbookSerializer, **openapi.errors(*openapi.MANAGEMENT_WRITE)},
    )
    def patch(self, request, account_id, runbook_name):
        data = s.RunbookUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        runbook = runbook_services.update_draft(runbook=self.get_runbook(), actor=self.actor(), **data.validated_data)
        return Response(s.RunbookSerializer(runbooks_of(self.get_account()).get(pk=runbook.pk)).data)

    @extend_schema(
        responses={
            204: None,
            **openapi.errors(*openapi.MANAGEMENT_ACTION, 409, _409="The runbook has jobs queued or running."),
        }
    )
    def delete(self, request, account_id, runbook_name):
        runbook_services.delete_runbook(runbook=self.get_runbook(), actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class RunbookPublish(RunbookScoped, APIView):
    @extend_schema(
        tags=["runbooks"],
        request=None,
        responses={
            200: s.VersionSerializer,
            **openapi.errors(
                *openapi.MANAGEMENT_ACTION,
                _400="The draft is empty: there is nothing to publish (or the URL holds a control character).",
            ),
        },
    )
    def post(self, request, account_id, runbook_name):
        version = runbook_services.publish_runbook(runbook=self.get_runbook(), actor=self.actor())
        return Response(s.VersionSerializer(version).data)


@extend_schema(tags=["runbooks"], **openapi.listing(s.VersionSerializer))
class RunbookVersions(RunbookScoped, generics.ListAPIView):
    serializer_class = s.VersionSerializer

    def get_queryset(self):
        return self.get_runbook().versions.order_by("-number")


@extend_schema(tags=["jobs"])
class JobList(AccountScoped, generics.ListAPIView):
    serializer_class = s.JobSerializer

    def get_queryset(self):
        try:
            return jobs_of(self.get_account(), self.request.query_params)
        except BadFilter as exc:
            raise ValidationError({exc.key: [str(exc)]}) from None

    @extend_schema(**openapi.listing(s.JobSerializer, filters=openapi.JOB_FILTERS))
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        annotate_waiting_reasons(page if page is not None else queryset)
        return page

    @extend_schema(
        request=openapi.JobStartRequestSchema,
        responses={201: s.JobSerializer, **openapi.errors(*openapi.MANAGEMENT_WRITE)},
        description=(
            "The runbook must have a published version and the group must exist; the parameters must be the ones "
            "the published version declares (400 names the one at fault)."
        ),
    )
    def post(self, request, account_id):
        data = s.JobStartSerializer(data=request.data)
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
        return Response(s.JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobScoped(AccountScoped):
    def get_job(self):
        job_id = self.kwargs["job_id"]
        detail = f"Job {job_id} was not found in this Automation account."
        return get_or_not_found(jobs_of(self.get_account(), tests=True), detail, pk=job_id)


@extend_schema(tags=["jobs"], **openapi.reading(s.JobSerializer))
class JobDetail(JobScoped, generics.RetrieveAPIView):
    serializer_class = s.JobSerializer

    def get_object(self):
        job = self.get_job()
        annotate_waiting_reasons([job])
        return job


class JobStop(JobScoped, APIView):
    @extend_schema(
        tags=["jobs"],
        request=None,
        responses={
            200: s.JobSerializer,
            **openapi.errors(*openapi.MANAGEMENT_ACTION, 409, _409="The job already ended."),
        },
    )
    def post(self, request, account_id, job_id):
        job = job_services.request_stop(job=self.get_job(), actor=self.actor())
        return Response(s.JobSerializer(job).data)


@extend_schema(tags=["jobs"], **openapi.listing(s.StreamRecordSerializer, filters=openapi.STREAM_FILTERS))
class JobStreams(JobScoped, generics.ListAPIView):
    serializer_class = s.StreamRecordSerializer

    def get_queryset(self):
        stream = self.request.query_params.get("stream")
        try:
            after = stream_position(self.request.query_params.get("after"))
        except BadFilter as exc:
            raise ValidationError({exc.key: [str(exc)]}) from None
        if stream and stream not in JobStream.Stream.values:
            raise ValidationError({"stream": [f"One of {', '.join(JobStream.Stream.values)}."]})
        return streams_of(self.get_job(), after=after, stream=stream)
