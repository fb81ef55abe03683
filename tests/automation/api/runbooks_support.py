"""What the runbook and job tests of the management API share: a published runbook and a draft-only one,
a group with a worker, a queued job and a finished one with records in every stream; the role table's rows."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.utils import timezone
from rest_framework.test import APIClient

from automation.models import Job
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.tokens import create_token
from automation.services.workers import register_worker
from tests.automation.api.helpers import assert_error
from tests.support.state import state

SYSTEM = Actor.for_system()

RB = "Restart web.service v2"  # spaces and dots: the URL must encode them

CONTENT = '#!/bin/bash\nsystemctl restart "$1"\n'

DECLARED = [
    {"name": "service", "type": "string", "required": True},
    {"name": "retries", "type": "int", "default": 2},
    {"name": "force", "type": "bool", "default": False},
    {"name": "options", "type": "json"},
]


ROLES = ["owner", "operator", "reader", "stranger"]

JOB_KEYS = {
    "version",
    "timeout_seconds",
    "attempt",
    "retries_left",
    "pickup_seconds",
    "run_seconds",
    "test",
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
    "parent_job",
    "started_by",
    "scheduled_for",
    "child_jobs",
}


STATUSES = {"New", "Queued", "Activating", "Running", "Stopping", "Completed", "Failed", "Stopped"}

RUNBOOK_KEYS = {
    "retries",
    "timeout_seconds",
    "id",
    "name",
    "runbook_type",
    "description",
    "parameters",
    "content",
    "published_version",
    "state",
    "created",
    "updated",
}


VERSION_KEYS = {"id", "version", "runbook_type", "sha256", "parameters", "published", "published_by"}


def client_for(user) -> APIClient:
    client = APIClient(REMOTE_ADDR="198.51.100.20")
    token = create_token(user=user, name="tests", expires_days=None, actor=SYSTEM).plain
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@dataclass
class World:
    people: Any
    worker: Any
    queued: Job
    finished: Job

    @property
    def account(self):
        return self.people.account

    def url(self, rest: str = "") -> str:
        return f"/api/v1/accounts/{self.account.pk}/{rest}"

    def runbook_url(self, name: str = RB, rest: str = "") -> str:
        return self.url(f"runbooks/{quote(name)}/{rest}")

    def job_url(self, job, rest: str = "") -> str:
        return self.url(f"jobs/{job.pk}/{rest}")


def make_world(people) -> World:
    """Runbook RB published (v1) and "draft only" unpublished; group "lab" with a worker; a queued job,
    and a finished one with records in every stream."""
    runbook = create_runbook(
        account=people.account,
        name=RB,
        runbook_type="bash",
        description="Restarts a service.",
        content=CONTENT,
        parameters=DECLARED,
        actor=SYSTEM,
    )
    publish_runbook(runbook=runbook, actor=SYSTEM)
    create_runbook(account=people.account, name="draft only", runbook_type="python3", actor=SYSTEM)
    worker = register_worker(
        account=people.account, group_name="lab", machine_id="machine-0001", name="web-01", facts={"capacity": 4}
    ).worker
    finished = start(people.account, parameters={"service": "web"})
    (held,) = job_services.claim_jobs(worker=worker)
    records = [
        job_services.Record(seq=i, stream=stream, text=f"{stream} {i}", time=timezone.now())
        for i, stream in enumerate(["output", "error", "warning", "output", "verbose", "progress", "output"])
    ]
    job_services.finish_job(
        worker=worker, job_id=held.pk, lease=held.lease_id, status="Completed", exit_code=0, records=records
    )
    queued = start(people.account, parameters={"service": "db"})
    return World(people=people, worker=worker, queued=queued, finished=Job.objects.get(pk=finished.pk))


def start(account, *, runbook=RB, group="lab", parameters=None) -> Job:
    return job_services.start_job(
        account=account, runbook_name=runbook, group_name=group, parameters=parameters, actor=SYSTEM
    )


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: Any  # World -> str
    expect: dict
    body: dict | None = None


READ = {"owner": 200, "operator": 200, "reader": 200, "stranger": 404}


def operate(status: int) -> dict:
    return {"owner": status, "operator": status, "reader": 403, "stranger": 404}


def send(client, op: Op, world: World):
    return getattr(client, op.method)(op.path(world), data=op.body, format="json")


def assert_answer_for_role(world, op: Op, role: str) -> None:
    """`op` sent by a member of `role` gets the answer its role allows; only an allowed write changes anything."""
    client = client_for(world.people.by_role[role])
    before = state()

    response = send(client, op, world)

    expected = op.expect[role]
    assert response.status_code == expected, (response.status_code, response.content)
    if expected == 404:
        assert_error(response, 404, "not_found")
        assert b"contoso" not in response.content
    if expected == 403:
        body = assert_error(response, 403, "forbidden")
        assert "Operator or Owner" in body["detail"]
    if expected in (403, 404) or op.method == "get":
        assert state() == before
    else:
        assert state() != before


def assert_anonymous_refused(world, op: Op) -> None:
    before = state()

    response = send(APIClient(), op, world)

    assert response.status_code in (401, 403)
    assert state() == before
