"""Jobs for the agent tests: publish a runbook, start it on the test group, wait for its end, read its streams.

Jobs are started through the service layer in the test's process; daphne and the agents share its database.
"""

from pathlib import Path

import redis
from channels.layers import get_channel_layer
from django.conf import settings

from automation import live
from automation.models import FINAL_STATUSES, Job, JobStatus, JobStream
from automation.services.actor import Actor
from automation.services.jobs import start_job
from automation.services.runbooks import create_runbook, publish_runbook
from tests.workers.conftest import DEADLINE, GROUP, Agent, wait_until

SYSTEM = Actor.for_system()


def publish(account, name: str, runbook_type: str, content: str, parameters=None, **settings):
    runbook = create_runbook(
        account=account,
        name=name,
        runbook_type=runbook_type,
        actor=SYSTEM,
        content=content,
        parameters=parameters,
        **settings,
    )
    return publish_runbook(runbook=runbook, actor=SYSTEM)


def start(account, name: str, **options) -> Job:
    return start_job(account=account, runbook_name=name, group_name=GROUP, actor=SYSTEM, **options)


def ended(job: Job, agent: Agent, timeout: float = DEADLINE) -> Job:
    def final():
        job.refresh_from_db()
        return job.status in FINAL_STATUSES

    wait_until(final, f"job {job.pk} ({job.runbook_name}) to end", timeout=timeout, agent=agent)
    return job


def running(job: Job, agent: Agent) -> Job:
    def is_running():
        job.refresh_from_db()
        assert job.status not in FINAL_STATUSES, f"{job.status}: {job.status_reason}"
        return job.status == JobStatus.RUNNING

    wait_until(is_running, f"job {job.pk} to run", agent=agent)
    return job


def streams(job: Job) -> list[tuple[str, str]]:
    rows = list(JobStream.objects.filter(job=job).order_by("seq").values_list("seq", "stream", "text"))
    assert [seq for seq, _, _ in rows] == list(range(len(rows))), "records are numbered 0, 1, 2... without a gap"
    return [(stream, text) for _, stream, text in rows]


def texts(job: Job, stream: str = "output") -> list[str]:
    return [text for kind, text in streams(job) if kind == stream]


def sandbox(agent: Agent, job: Job) -> Path:
    return agent.state_dir / "sandboxes" / str(job.pk)


def waiting_polls(group) -> int:
    """How many long-polls of a worker group's members wait at the server right now: each one joins the
    group's channel group (automation.live.jobs_waiters) while it waits."""
    layer = get_channel_layer()
    client = redis.Redis.from_url(settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0])
    try:
        return client.zcard(layer._group_key(live.jobs_waiters(group.pk)))
    finally:
        client.close()
