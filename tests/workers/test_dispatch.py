"""Which member of a group gets a job: the one holding the fewest, when several wait."""

import time

from automation.models import HybridWorkerGroup, Job, JobStatus
from automation.services.jobs import request_stop
from tests.workers.conftest import GROUP, SERVER_SETTINGS, start_run, wait_until
from tests.workers.jobs_support import SYSTEM, ended, publish, running, start, waiting_polls

# The suite's server has a busier member wait 0.5 s per job it holds before it claims (at most 2.5 s, see
# SERVER_SETTINGS): holding five, the busy member gives the other the longest head start there is, which a
# busy machine needs.
LONG_JOBS = 5
MOST_DEFERRAL = float(SERVER_SETTINGS["DISPATCH_MOST_DELAY_SECONDS"])


def test_a_job_goes_to_the_waiting_member_that_holds_the_fewest_jobs(people, worker):
    busy = worker("member01", "--capacity", str(LONG_JOBS + 1))
    idle = worker("member02", run=False)
    publish(people.account, "long", "bash", "echo started\nsleep 120\n")
    publish(people.account, "short", "bash", "echo done\n")
    group = HybridWorkerGroup.objects.get(account=people.account, name=GROUP)

    # The other member is not running yet: the busy one takes every long job, and still has a free slot.
    long_jobs = [start(people.account, "long") for _ in range(LONG_JOBS)]
    for job in long_jobs:
        assert running(job, busy).worker_name == "member01"
    start_run(idle, "--capacity", "4")

    takers = []
    for _ in range(4):
        # The server defers a busier member's claim by time, counted from the wake-up it answers: the last
        # job woke the busy member too, and its deferred look at the queue must be over before the next job
        # comes, or that job meets it half-way through its head start.
        time.sleep(2 * MOST_DEFERRAL)
        # Both members wait for work when the job arrives.
        wait_until(lambda: waiting_polls(group) == 2, "both members to wait for work", agent=idle)
        job = ended(start(people.account, "short"), idle)
        assert job.status == JobStatus.COMPLETED, job.status_reason
        takers.append(job.worker_name)

    assert takers == ["member02"] * 4, f"member01 held {LONG_JOBS} jobs; these went to {takers}"
    for job in long_jobs:
        request_stop(job=Job.objects.get(pk=job.pk), actor=SYSTEM)
    for job in long_jobs:
        assert ended(job, busy).status == JobStatus.STOPPED
