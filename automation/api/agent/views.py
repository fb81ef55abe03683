"""Agent API v1: what `hybridworker` calls. One view per operation; errors are {"code", "detail"}."""

import time

from django.conf import settings
from django.utils.cache import patch_cache_control
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from automation.api import schema as openapi
from automation.api import throttling
from automation.api.agent import serializers as s
from automation.api.exceptions import BadCredentials
from automation.api.parsers import LimitedJSONParser
from automation.models import HybridWorker
from automation.services import keys as key_services
from automation.services import leases as lease_services
from automation.services import workers as worker_services
from automation.services.errors import NotFound

BAD_KEY = (
    "The access key is not valid for this Automation account. Copy the URL and the primary or secondary "
    "access key from the account's Keys blade."
)
BAD_CREDENTIAL = (
    "This worker's credential is not valid: the worker was removed, or registered again from another state "
    "folder. Run 'hybridworker register' to add it again."
)


def _bearer(request: Request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _client_ip(request: Request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class AgentView(APIView):
    schema = openapi.AgentSchema()
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [LimitedJSONParser]

    def get_authenticate_header(self, request):
        return 'Bearer realm="agentsvc"'

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Agent answers carry credentials and jobs' secret parameters: no cache or proxy may keep one.
        patch_cache_control(response, no_store=True)
        return response

    def account_from_key(self, request: Request, account_id):
        account = key_services.account_for_key(account_id=account_id, presented=_bearer(request))
        if account is None:
            throttling.refuse(
                request, credential=throttling.account_key_id(account_id), refusal=BadCredentials(BAD_KEY)
            )
        return account

    def worker_from_credential(self, request: Request, account_id) -> HybridWorker:
        presented = _bearer(request)
        worker = worker_services.worker_for_credential(presented)
        if worker is None or worker.account_id != account_id:
            credential = throttling.credential_id(presented, worker_services.CREDENTIAL_PREFIX)
            throttling.refuse(request, credential=credential, refusal=BadCredentials(BAD_CREDENTIAL))
        return worker

    @staticmethod
    def validated(serializer_class, request: Request) -> dict:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class RegisterView(AgentView):
    @extend_schema(
        operation_id="agent_register",
        tags=["agent"],
        summary="Register this machine into a hybrid worker group (Add-HybridRunbookWorker)",
        description="Authenticate with `Authorization: Bearer <primary or secondary access key>`.",
        auth=openapi.KEY_AUTH,
        request=s.RegisterRequest,
        responses={
            200: s.RegisterResponse,
            201: s.RegisterResponse,
            **openapi.errors(
                *openapi.AGENT_BODY,
                409,
                _409="This machine is registered in another group or account, or the name is taken in the group.",
            ),
        },
    )
    def post(self, request, account_id):
        if not isinstance(request.data, dict):
            raise ParseError("expected a JSON object.")
        account = self.account_from_key(request, account_id)
        data = self.validated(s.RegisterRequest, request)
        registration = worker_services.register_worker(
            account=account,
            group_name=data["group"],
            machine_id=data["machine_id"],
            name=data["name"],
            facts=dict(data["facts"]),
            source_ip=_client_ip(request),
        )
        worker = registration.worker
        body = {
            "worker_id": worker.pk,
            "name": worker.name,
            "group": worker.group.name,
            "account_id": account.pk,
            "credential": registration.credential,
            "heartbeat_interval": settings.HEARTBEAT_INTERVAL_SECONDS,
            "long_poll_timeout": settings.LONG_POLL_SECONDS,
            "renewed": registration.renewed,
        }
        return Response(s.RegisterResponse(body).data, status=200 if registration.renewed else 201)


class HeartbeatView(AgentView):
    @extend_schema(
        operation_id="agent_heartbeat",
        tags=["agent"],
        summary="Report that this worker is alive, with its host facts",
        description="Authenticate with `Authorization: Bearer <worker credential>`.",
        auth=openapi.CREDENTIAL_AUTH,
        request=s.HeartbeatRequest,
        responses={
            200: s.HeartbeatResponse,
            **openapi.errors(*openapi.AGENT_BODY),
            409: OpenApiResponse(s.StaleLeaseResponse, description="Jobs listed that this worker no longer holds."),
        },
    )
    def post(self, request, account_id):
        worker = self.worker_from_credential(request, account_id)
        data = self.validated(s.HeartbeatRequest, request)
        # Fencing: a worker that was paused past its lease learns which jobs were taken back, and
        # its heartbeat does not count until it lets go of them.
        held = [dict(item) for item in data["jobs"]] if "jobs" in data else None
        lost = lease_services.stale_leases(worker=worker, held=held)
        if lost:
            detail = f"This worker no longer holds {len(lost)} of its jobs (their lease moved on): end them."
            return Response({"code": "stale_lease", "detail": detail, "lost": lost}, status=409)
        worker_services.record_heartbeat(worker=worker, facts=dict(data["facts"]))
        if held is not None:
            lease_services.take_back_unlisted(worker=worker, held=[str(item["id"]) for item in held])
        body = {
            "worker_id": worker.pk,
            "name": worker.name,
            "group": worker.group.name,
            "heartbeat_interval": settings.HEARTBEAT_INTERVAL_SECONDS,
            "server_time": time.time(),
        }
        return Response(s.HeartbeatResponse(body).data)


class LeaveView(AgentView):
    @extend_schema(
        operation_id="agent_leave",
        tags=["agent"],
        summary="This worker's service is stopping: offline at once, and what it still holds is taken back",
        description="Authenticate with the worker credential. The next heartbeat makes the worker online again.",
        auth=openapi.CREDENTIAL_AUTH,
        request=None,
        responses={200: s.LeaveResponse, **openapi.errors(*openapi.ANY)},
    )
    def post(self, request, account_id):
        worker = self.worker_from_credential(request, account_id)
        released = lease_services.release_worker(worker=worker)
        return Response({"released": released.count})


class DeregisterView(AgentView):
    @extend_schema(
        operation_id="agent_deregister",
        tags=["agent"],
        summary="Remove this machine from its group (Remove-HybridRunbookWorker)",
        description=(
            "Authenticate with the worker's own credential, or with an account access key plus the "
            "`machine_id` of the worker to remove."
        ),
        auth=[*openapi.KEY_AUTH, *openapi.CREDENTIAL_AUTH],
        request=openapi.DeregisterRequestSchema,
        responses={
            200: s.DeregisterResponse,
            **openapi.errors(*openapi.AGENT_BODY, 404, _404="This machine is not registered in this account."),
        },
    )
    def post(self, request, account_id):
        token = _bearer(request)
        if token.startswith(f"{worker_services.CREDENTIAL_PREFIX}_"):
            worker = self.worker_from_credential(request, account_id)
            self.validated(s.DeregisterRequest, request)  # bad input is refused here too, not ignored
        else:
            account = self.account_from_key(request, account_id)
            data = self.validated(s.DeregisterRequest, request)
            if "machine_id" not in data:
                raise ValidationError({"machine_id": ["Needed when deregistering with an access key."]})
            worker = (
                HybridWorker.objects.select_related("group", "account")
                .filter(account=account, machine_id=data["machine_id"])
                .first()
            )
            if worker is None:
                raise NotFound("This machine is not registered in this Automation account.", code="not_registered")
        group = worker.group.name
        worker_services.deregister_worker(worker=worker, source_ip=_client_ip(request))
        return Response(s.DeregisterResponse({"removed": worker.name, "group": group}).data)
