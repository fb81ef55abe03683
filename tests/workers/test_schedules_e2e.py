"""Schedules end to end: a real daphne and agent, a real Celery worker and beat (ticking every half second).
A one-time schedule a few seconds ahead and a 1-minute recurring one each fire a job that a real agent runs
to completion, with the link's parameters, on the link's group. Nothing waits on a clock: the test waits for
the jobs to appear and end."""

from datetime import timedelta

from django.utils import timezone

from automation.models import Job, JobStatus, JobStream, ScheduleFire, StartedBy
from automation.services.actor import Actor
from automation.services.schedules import create_schedule, link_schedule
from tests.support import waiting
from tests.support.celery_beat import start_celery_beat
from tests.support.processes import start_celery_worker
from tests.workers.conftest import GROUP
from tests.workers.jobs_support import ended, publish

SYSTEM = Actor.for_system()
DECLARED = [{"name": "Target", "type": "string", "required": True}]
ECHO = 'echo "target is $2"\n'
# Celery comes up in seconds on a quiet machine, in tens on a busy one: fires that come before it runs are
# late, not lost, within this grace.
ENV = {"SCHEDULE_TICK_SECONDS": "0.5", "SCHEDULE_MISSED_GRACE_SECONDS": "600"}


def test_a_one_time_and_a_minute_schedule_fire_jobs_an_agent_completes(people, server, worker, log_dir, tmp_path):
    agent = worker("sched01")
    env = {**server.env, **ENV}
    celery = start_celery_worker(env, log_dir)
    beat = start_celery_beat(env, log_dir, tmp_path / "beat")
    try:
        publish(people.account, "echo-target", "bash", ECHO, DECLARED)
        soon = timezone.now().replace(microsecond=0) + timedelta(seconds=3)
        for name, frequency, target in (("Once", "OneTime", "db01"), ("Every minute", "Minute", "web02")):
            create_schedule(account=people.account, name=name, start_time=soon, frequency=frequency, actor=SYSTEM)
            link_schedule(
                account=people.account,
                runbook_name="echo-target",
                schedule_name=name,
                run_on=GROUP,
                parameters={"Target": target},
                actor=SYSTEM,
            )

        def fired(name):
            return (
                Job.objects.filter(started_by_kind=StartedBy.SCHEDULE, started_by=name).order_by("created_at").first()
            )

        context = lambda: beat.output()[-3000:] + celery.output()[-3000:]  # noqa: E731
        for name, target in (("Once", "db01"), ("Every minute", "web02")):
            job = waiting.wait_until(
                lambda n=name: fired(n), f"schedule {name!r} to start a job", timeout=120, context=context
            )
            job = ended(job, agent)
            assert job.status == JobStatus.COMPLETED, job.status_reason
            assert (job.group_name, job.parameters, job.scheduled_for) == (GROUP, {"Target": target}, soon)
            output = list(JobStream.objects.filter(job=job, stream="output").values_list("text", flat=True))
            assert f"target is {target}" in "\n".join(output)
            fire = ScheduleFire.objects.get(job=job)
            assert (fire.outcome, fire.fire_time) == ("started", soon)
        assert Job.objects.filter(started_by="Once").count() == 1
    finally:
        beat.stop()
        celery.stop()
