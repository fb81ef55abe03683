"""Which member of a group gets a job: the one holding the fewest, when several wait."""

import time

from automation.models import Job, JobStatus
from automation.services.jobs import request_stop
from tests.workers.jobs_support import SYSTEM, ended, publish, running, start


def test_a_job_goes_to_the_waiting_member_that_holds_the_fewest_jobs(people, worker):
    first = worker("member01", "--capacity", "4")
    second = worker("member02", "--capacity", "4")
    publish(people.account, "long", "bash", "echo started\nsleep 120\n")
    publish(people.account, "short", "bash", "echo done\n")

    long_job = running(start(people.account, "long"), first)
    busy = long_job.worker_name
    idle = "member02" if busy == "member01" else "member01"

    takers = []
    for _ in range(4):
        # Let both agents settle back into their long-poll, so both are waiting when the job arrives.
        time.sleep(1.0)
        job = ended(start(people.account, "short"), first)
        assert job.status == JobStatus.COMPLETED, job.status_reason
        takers.append(job.worker_name)

    assert takers == [idle] * 4, f"{busy} held a job; the others should have gone to {idle}, went to {takers}"
    request_stop(job=Job.objects.get(pk=long_job.pk), actor=SYSTEM)
    assert ended(Job.objects.get(pk=long_job.pk), second).status == JobStatus.STOPPED
