"""Agent API v1, job side: what a running runbook reads and sets of its account's shared resources, and the
child jobs it starts, relayed by its agent (the worker credential) under the job's lease (`X-Job-Lease`).
The rules (who may, what is recorded, what is masked) are in automation.services.job_assets."""

import asyncio
import re
import time

from channels.layers import get_channel_layer
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from automation import live
from automation.api import schema as openapi
from automation.api.agent.jobs import WaitingView, _closing
from automation.api.agent.views import AgentView, _client_ip
from automation.api.management.job_fields import JSONValue
from automation.api.parsers import ApiJSONParser
from automation.services import job_assets

MAX_WAIT_SECONDS = 60
# When a status push was missed (Redis hiccup, a full channel), a waiting parent still learns of the end this soon.
FALLBACK_POLL_SECONDS = 5.0

LEASE = OpenApiParameter(
    job_assets.LEASE_HEADER,
    {"type": "string", "format": "uuid"},
    location=OpenApiParameter.HEADER,
    required=True,
    description="The lease of the job's claim, as the job was handed out.",
)
WAIT = OpenApiParameter(
    "wait",
    {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS, "default": 0},
    description="Seconds to wait for the child to end (Wait-AutomationJob); it answers as soon as it has.",
)
ACCESS_ERRORS = {
    "_404": "No asset of this kind by this name in the job's account (`asset_not_found`).",
    "_409": (
        "`lease_lost`: this worker does not hold the job under this lease, or the job is not running (it ended or "
        "was taken back); the runbook's access ended with it."
    ),
}


def _secret_list(**kwargs):
    return serializers.ListField(
        child=serializers.CharField(),
        help_text="The strings the agent masks (******) in the job's streams: the secret values just read.",
        **kwargs,
    )


class JobVariableAnswer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.JSONField(allow_null=True, help_text="Any JSON value; an encrypted one decrypted.")
    encrypted = serializers.BooleanField()
    secret = _secret_list()


class JobVariableSet(serializers.Serializer):
    value = JSONValue(allow_null=True, help_text="Any JSON value, at most 1,048,576 characters of JSON.")


class JobVariableSetAnswer(serializers.Serializer):
    name = serializers.CharField()
    encrypted = serializers.BooleanField(help_text="An encrypted variable stays encrypted.")


class JobCredentialAnswer(serializers.Serializer):
    name = serializers.CharField()
    username = serializers.CharField()
    password = serializers.CharField()
    secret = _secret_list()


class JobConnectionAnswer(serializers.Serializer):
    name = serializers.CharField()
    connection_type = serializers.CharField()
    values = serializers.DictField(help_text="field: value, for every field of the type, encrypted ones decrypted.")
    secret = _secret_list()


class JobCertificateAnswer(serializers.Serializer):
    name = serializers.CharField()
    thumbprint = serializers.CharField()
    pkcs12_base64 = serializers.CharField(help_text="A PKCS#12 without a password: the certificate and its key.")


class ChildStartRequest(serializers.Serializer):
    # Any JSON, handed to the service, which names the field at fault in its own words (see ChildStartSchema).
    runbook = JSONValue()
    parameters = JSONValue(required=False, default=None, allow_null=True)
    run_on = JSONValue(required=False, default=None, allow_null=True)


@extend_schema_serializer(component_name="JobChildStart")
class ChildStartSchema(serializers.Serializer):
    runbook = openapi.NameSchemaField(help_text="A runbook of the job's account with a published version.")
    parameters = serializers.DictField(
        required=False, allow_null=True, help_text="name: value, of the types the published version declares."
    )
    run_on = openapi.NameSchemaField(
        required=False, allow_null=True, help_text="The hybrid worker group to run on; default: the parent job's."
    )


class JobChildStarted(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class JobChildState(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    status_reason = serializers.CharField(allow_blank=True)
    output = serializers.ListField(child=serializers.CharField(allow_blank=True), help_text="Its Output records.")


def _lease(request) -> str | None:
    return request.META.get("HTTP_X_JOB_LEASE")


def _asset_read(summary: str, answer, kind: str, **extra) -> dict:
    errors = openapi.errors(*openapi.ANY, 404, 409, **ACCESS_ERRORS)
    for status, text in extra.items():
        errors[int(status[1:])] = OpenApiResponse(openapi.ErrorSerializer, description=text)
    return {
        "operation_id": f"agent_job_{kind}",
        "tags": ["agent"],
        "summary": summary,
        "auth": openapi.CREDENTIAL_AUTH,
        "parameters": [LEASE],
        "responses": {200: answer, **errors},
    }


# GET one shared resource of the job's account by name through `read`, the service that checks the job's lease
# and records the read. (A comment, not a docstring: drf-spectacular would print a docstring in the API document.)
class JobAssetView(AgentView):
    read = None  # staticmethod(service)

    def get(self, request, account_id, job_id, name):
        worker = self.worker_from_credential(request, account_id)
        answer = type(self).read(worker=worker, job_id=job_id, lease=_lease(request), name=name, ip=_client_ip(request))
        return Response(answer)


@extend_schema_view(
    get=extend_schema(
        **_asset_read("Get-AutomationVariable: a variable of the job's account", JobVariableAnswer, "variable_get")
    )
)
class JobVariableView(JobAssetView):
    # A variable's value may be 1 MiB of JSON, more than the agent API's usual body.
    parser_classes = [ApiJSONParser]
    read = staticmethod(job_assets.read_variable)

    @extend_schema(
        operation_id="agent_job_variable_set",
        tags=["agent"],
        summary="Set-AutomationVariable: replace the value of a variable of the job's account",
        auth=openapi.CREDENTIAL_AUTH,
        parameters=[LEASE],
        request=JobVariableSet,
        responses={
            200: JobVariableSetAnswer,
            **openapi.errors(*openapi.AGENT_BODY, 404, 409, **ACCESS_ERRORS),
        },
    )
    def put(self, request, account_id, job_id, name):
        worker = self.worker_from_credential(request, account_id)
        data = self.validated(JobVariableSet, request)
        variable = job_assets.set_variable(
            worker=worker, job_id=job_id, lease=_lease(request), name=name, value=data["value"], ip=_client_ip(request)
        )
        return Response({"name": variable.name, "encrypted": variable.encrypted})


@extend_schema_view(
    get=extend_schema(
        **_asset_read(
            "Get-AutomationPSCredential: a credential's user name and password", JobCredentialAnswer, "credential_get"
        )
    )
)
class JobCredentialView(JobAssetView):
    read = staticmethod(job_assets.read_credential)


@extend_schema_view(
    get=extend_schema(
        **_asset_read("Get-AutomationConnection: a connection's field values", JobConnectionAnswer, "connection_get")
    )
)
class JobConnectionView(JobAssetView):
    read = staticmethod(job_assets.read_connection)


@extend_schema_view(
    get=extend_schema(
        **_asset_read(
            "Get-AutomationCertificate: an exportable certificate as PKCS#12",
            JobCertificateAnswer,
            "certificate_get",
            _409=f"{ACCESS_ERRORS['_409']} `not_exportable`: the certificate is not marked exportable.",
        )
    )
)
class JobCertificateView(JobAssetView):
    read = staticmethod(job_assets.read_certificate)


class JobChildrenView(AgentView):
    parser_classes = [ApiJSONParser]

    @extend_schema(
        operation_id="agent_job_child_start",
        tags=["agent"],
        summary="Start-AutomationRunbook: start a published runbook of the job's account as a child job",
        auth=openapi.CREDENTIAL_AUTH,
        parameters=[LEASE],
        request=ChildStartSchema,
        responses={
            201: JobChildStarted,
            **openapi.errors(
                *openapi.AGENT_BODY,
                404,
                409,
                _404="No such operation: the job id in the path is no UUID.",
                _409=ACCESS_ERRORS["_409"],
            ),
        },
    )
    def post(self, request, account_id, job_id):
        worker = self.worker_from_credential(request, account_id)
        data = self.validated(ChildStartRequest, request)
        child = job_assets.start_child(
            worker=worker,
            job_id=job_id,
            lease=_lease(request),
            runbook=data["runbook"],
            parameters=data["parameters"],
            run_on=data["run_on"],
            ip=_client_ip(request),
        )
        return Response({"id": child.pk, "status": child.status}, status=201)


def _wait_seconds(request) -> int:
    value = request.query_params.get("wait", "0")
    if not re.fullmatch(r"[0-9]{1,3}", value) or int(value) > MAX_WAIT_SECONDS:
        raise ValidationError({"wait": [f"A whole number of seconds from 0 to {MAX_WAIT_SECONDS}."]})
    return int(value)


class JobChildView(WaitingView):
    """Waits as the long-poll does: on the account's live channel, where every status change of its jobs is
    pushed (automation.live.push_job_status), so the answer leaves as soon as the child has ended."""

    waits_on = "get"

    @extend_schema(
        operation_id="agent_job_child_get",
        tags=["agent"],
        summary="Wait-AutomationJob: a child job's status and output, waiting up to `wait` seconds for its end",
        auth=openapi.CREDENTIAL_AUTH,
        parameters=[LEASE, WAIT],
        responses={
            200: JobChildState,
            **openapi.errors(
                *openapi.ANY,
                404,
                409,
                _404="This job started no job with this id.",
                _409=ACCESS_ERRORS["_409"],
            ),
        },
    )
    async def get(self, request, account_id, job_id, child_id):
        worker = await _closing(lambda: self.worker_from_credential(request, account_id))()
        wait = _wait_seconds(request)
        lease = _lease(request)
        child = await _closing(
            lambda: job_assets.child_of(worker=worker, job_id=job_id, lease=lease, child_id=child_id)
        )()
        state = await _closing(lambda: job_assets.child_state(child))()
        if wait == 0 or job_assets.is_final(state):
            return Response(state)
        deadline = time.monotonic() + wait
        layer = get_channel_layer()
        channel = await layer.new_channel()
        group = live.account_group(child.account_id)
        await layer.group_add(group, channel)
        try:
            while True:
                # Read after joining, so an end pushed between the first read and the join is not missed.
                state = await _closing(lambda: job_assets.child_state(child))()
                left = deadline - time.monotonic()
                if job_assets.is_final(state) or left <= 0:
                    return Response(state)
                await _next_status_of(layer, channel, str(child.pk), min(left, FALLBACK_POLL_SECONDS))
        finally:
            await layer.group_discard(group, channel)


async def _next_status_of(layer, channel: str, job_id: str, timeout: float) -> None:
    """Until a status push about `job_id` arrives on `channel`, or `timeout` seconds pass. The account's channel
    carries every live message of the account; the others are passed over."""
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=left)
        except TimeoutError:
            return
        payload = message.get("payload") or {}
        if payload.get("type") == "job-status" and payload.get("job_id") == job_id:
            return
