"""Agent API v1 for jobs: wait for work (long-poll), report stream records, report the end."""

import asyncio
import time

from adrf.views import APIView as AsyncAPIView
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from automation import live
from automation.api import schema as openapi
from automation.api.agent import serializers as s
from automation.api.agent.views import BAD_CREDENTIAL, AgentView
from automation.api.exceptions import BadCredentials
from automation.api.parsers import StreamJSONParser
from automation.models import HybridWorker, JobStatus
from automation.services import jobs as job_services

# When a push was missed (Redis hiccup), a waiting agent still finds its work this soon.
FALLBACK_POLL_SECONDS = 5.0
JOB_REPORT_ERRORS = {
    "_404": "This worker holds no such job.",
    "_409": "The job's lease moved on (the worker lost it), or the job already ended: nothing was applied.",
}


def _closing(fn):
    """Run fn in a worker thread and give its database connection back, so a waiting
    long-poll holds neither a thread nor a connection."""

    def run():
        try:
            return fn()
        finally:
            connections.close_all()

    return sync_to_async(run, thread_sensitive=False)


class WaitingView(AgentView, AsyncAPIView):
    """An agent endpoint that waits (the long-poll, a child job's end) with its one method, `waits_on`."""

    waits_on = "post"

    async def async_dispatch(self, request, *args, **kwargs):
        # As adrf's, except that `initial` runs on the shared pool (thread_sensitive=False): a
        # thread-sensitive call would keep a per-request thread alive for the whole wait.
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            await sync_to_async(self.initial, thread_sensitive=False)(request, *args, **kwargs)
            if request.method != self.waits_on.upper():
                self.http_method_not_allowed(request, *args, **kwargs)
            response = await getattr(self, self.waits_on)(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response


class NextJobsView(WaitingView):
    @extend_schema(
        operation_id="agent_next_jobs",
        tags=["agent"],
        summary="Wait for work: claim queued jobs of this worker's group up to its free capacity",
        description=(
            "Long-poll with the worker credential. Answers at once when a job is queued or a stop is requested "
            "for a job this worker runs, else after `wait` seconds (at most the long-poll timeout) with empty lists."
        ),
        auth=openapi.CREDENTIAL_AUTH,
        request=s.NextJobsRequest,
        responses={200: s.NextJobsResponse, **openapi.errors(*openapi.AGENT_BODY)},
    )
    async def post(self, request, account_id):
        worker = await _closing(lambda: self.worker_from_credential(request, account_id))()
        data = self.validated(s.NextJobsRequest, request)
        wait = min(data.get("wait", settings.LONG_POLL_SECONDS), settings.LONG_POLL_SECONDS)
        deadline = time.monotonic() + wait
        known = {str(job_id) for job_id in data.get("stopping", [])}
        layer = get_channel_layer()
        channel = await layer.new_channel()
        groups = [live.jobs_waiters(worker.group_id), live.worker_waiters(worker.pk)]
        for group in groups:
            await layer.group_add(group, channel)
        try:
            while True:
                jobs, stops, held = await _closing(lambda: self._take(worker, known))()
                left = deadline - time.monotonic()
                if jobs or stops or left <= 0:
                    return Response({"jobs": [job_services.job_for_agent(job) for job in jobs], "stop": stops})
                try:
                    await asyncio.wait_for(layer.receive(channel), timeout=min(left, FALLBACK_POLL_SECONDS))
                except TimeoutError:
                    continue
                if held:
                    # A busier worker claims a little later, so the least busy waiting member gets the job.
                    await asyncio.sleep(
                        min(held * settings.DISPATCH_DELAY_PER_HELD_JOB_SECONDS, settings.DISPATCH_MOST_DELAY_SECONDS)
                    )
        finally:
            for group in groups:
                await layer.group_discard(group, channel)

    @staticmethod
    def _take(worker, known_stops: set[str]):
        credential = worker.credential_id
        try:
            worker.refresh_from_db(fields=["capacity", "credential_id"])
        except HybridWorker.DoesNotExist:
            worker.credential_id = None
        if worker.credential_id != credential:
            # Removed (or registered again, with a new credential) while this poll waited: the answer its
            # credential now gets from every endpoint.
            raise BadCredentials(BAD_CREDENTIAL)
        jobs = job_services.claim_jobs(worker=worker, limit=worker.capacity)
        stops = [job_id for job_id in job_services.stop_requests(worker=worker) if job_id not in known_stops]
        return jobs, stops, job_services.held_job_count(worker)


class JobRecordsView(AgentView):
    parser_classes = [StreamJSONParser]

    @extend_schema(
        operation_id="agent_job_records",
        tags=["agent"],
        summary="Send a batch of stream records (ordered, idempotent by seq); the first marks the job Running",
        auth=openapi.CREDENTIAL_AUTH,
        request=s.JobRecordsRequest,
        responses={200: s.JobAckResponse, **openapi.errors(*openapi.AGENT_BODY, 404, 409, **JOB_REPORT_ERRORS)},
    )
    def post(self, request, account_id, job_id):
        worker = self.worker_from_credential(request, account_id)
        data = self.validated(s.JobRecordsRequest, request)
        records = job_services.checked_records(data["records"])
        job = job_services.append_records(worker=worker, job_id=job_id, lease=data["lease"], records=records)
        return Response({"status": job.status, "stop": job.status == JobStatus.STOPPING})


class JobFinishView(AgentView):
    parser_classes = [StreamJSONParser]

    @extend_schema(
        operation_id="agent_job_finish",
        tags=["agent"],
        summary="Report the end state of a job (with its last stream records)",
        auth=openapi.CREDENTIAL_AUTH,
        request=s.JobFinishRequest,
        responses={200: s.JobFinishResponse, **openapi.errors(*openapi.AGENT_BODY, 404, 409, **JOB_REPORT_ERRORS)},
    )
    def post(self, request, account_id, job_id):
        worker = self.worker_from_credential(request, account_id)
        data = self.validated(s.JobFinishRequest, request)
        job = job_services.finish_job(
            worker=worker,
            job_id=job_id,
            lease=data["lease"],
            status=data["status"],
            exit_code=data.get("exit_code"),
            reason=data.get("reason", ""),
            records=job_services.checked_records(data.get("records", [])),
        )
        # The slot just freed takes the next job in the same exchange: one round trip per job, not two.
        claimed = job_services.claim_jobs(worker=worker, limit=data["claim"]) if data["claim"] else []
        return Response(
            {"status": job.status, "stop": False, "jobs": [job_services.job_for_agent(item) for item in claimed]}
        )
