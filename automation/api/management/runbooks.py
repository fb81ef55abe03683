"""Management API v1: runbooks, their drafts and published versions."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from automation.api import schema as openapi
from automation.api.errors import get_or_not_found
from automation.api.management.job_fields import JSONValue, retries_field, timeout_field
from automation.api.management.scoping import AccountScoped
from automation.models import Runbook, RunbookVersion
from automation.queries.runbooks import STATES, runbooks_of
from automation.services import runbooks as runbook_services


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


class RunbookScoped(AccountScoped):
    def get_runbook(self):
        name = self.kwargs["runbook_name"]
        detail = f"Runbook '{name}' was not found in this Automation account."
        return get_or_not_found(runbooks_of(self.get_account()), detail, name=name)


@extend_schema(tags=["runbooks"])
@extend_schema_view(get=extend_schema(**openapi.listing(RunbookSerializer)))
class RunbookList(AccountScoped, generics.ListAPIView):
    serializer_class = RunbookSerializer

    def get_queryset(self):
        return runbooks_of(self.get_account())

    @extend_schema(
        request=openapi.RunbookCreateRequestSchema,
        responses={
            201: RunbookSerializer,
            **openapi.errors(*openapi.MANAGEMENT_WRITE, 409, _409="A runbook of that name exists in the account."),
        },
    )
    def post(self, request, account_id):
        data = RunbookCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        runbook = runbook_services.create_runbook(account=self.get_account(), actor=self.actor(), **data.validated_data)
        runbook = runbooks_of(self.get_account()).get(pk=runbook.pk)
        return Response(RunbookSerializer(runbook).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["runbooks"])
@extend_schema_view(get=extend_schema(**openapi.reading(RunbookSerializer)))
class RunbookDetail(RunbookScoped, generics.RetrieveAPIView):
    serializer_class = RunbookSerializer

    def get_object(self):
        return self.get_runbook()

    @extend_schema(
        request=openapi.RunbookUpdateRequestSchema,
        responses={200: RunbookSerializer, **openapi.errors(*openapi.MANAGEMENT_WRITE)},
    )
    def patch(self, request, account_id, runbook_name):
        data = RunbookUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        runbook = runbook_services.update_draft(runbook=self.get_runbook(), actor=self.actor(), **data.validated_data)
        return Response(RunbookSerializer(runbooks_of(self.get_account()).get(pk=runbook.pk)).data)

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
            200: VersionSerializer,
            **openapi.errors(
                *openapi.MANAGEMENT_ACTION,
                _400="The draft is empty: there is nothing to publish (or the URL holds a control character).",
            ),
        },
    )
    def post(self, request, account_id, runbook_name):
        version = runbook_services.publish_runbook(runbook=self.get_runbook(), actor=self.actor())
        return Response(VersionSerializer(version).data)


@extend_schema(tags=["runbooks"], **openapi.listing(VersionSerializer))
class RunbookVersions(RunbookScoped, generics.ListAPIView):
    serializer_class = VersionSerializer

    def get_queryset(self):
        return self.get_runbook().versions.order_by("-number")
