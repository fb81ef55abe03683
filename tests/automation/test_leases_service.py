"""Jobs whose worker stopped heartbeating past its lease, or was removed, are taken back once."""

from datetime import timedelta

import pytest

from automation.models import HybridWorker, Job, JobStatus
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.errors import Conflict
from automation.services.leases import reclaim_lost_jobs
from automation.services.presence import offline_after
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.workers import register_worker, remove_worker
from tests.support import builders

pytestmark = pytest.mark.django_db
SYSTEM = Actor.for_system()


@pytest.fixture
def setup(people):
    book = create_runbook(account=people.account, name="rb", runbook_type="bash", content="exit 0", actor=SYSTEM)
    publish_runbook(runbook=book, actor=SYSTEM)
    first = register_worker(
        account=people.account, group_name="lab", machine_id="machine-0001", name="w1", facts={"capacity": 4}
    ).worker
    second = register_worker(
        account=people.account, group_name="lab", machine_id="machine-0002", name="w2", facts={"capacity": 4}
    ).worker
    return people.account, first, second


def start(account) -> Job:
    return builders.start(account, "rb")


def silent(worker: HybridWorker):
    """Travel the clock: `now` just past the worker's lease."""
    return worker.last_seen_at + offline_after() + timedelta(seconds=1)


@pytest.mark.sqlite
def test_a_lost_workers_unstarted_job_goes_back_to_the_queue_and_a_running_one_fails(setup):
    account, first, second = setup
    waiting, running = start(account), start(account)
    claimed = job_services.claim_jobs(worker=first, limit=2)
    assert {job.pk for job in claimed} == {waiting.pk, running.pk}
    job_services.append_records(worker=first, job_id=running.pk, lease=claimed[0].lease_id, records=[])
    HybridWorker.objects.filter(pk=second.pk).update(last_seen_at=silent(first))  # the other one is alive

    result = reclaim_lost_jobs(now=silent(first))

    assert result.requeued == [str(waiting.pk)]
    assert result.failed == [str(running.pk)]
    waiting.refresh_from_db()
    running.refresh_from_db()
    assert (waiting.status, waiting.worker_id, waiting.lease_id) == (JobStatus.QUEUED, None, None)
    assert running.status == JobStatus.FAILED
    assert running.status_reason.startswith("worker lost: w1")
    # The requeued job goes to a member that is alive.
    assert [job.pk for job in job_services.claim_jobs(worker=second, limit=4)] == [waiting.pk]


def test_a_second_sweep_and_the_lost_workers_late_reports_change_nothing(setup):
    account, first, _ = setup
    job = start(account)
    (claimed,) = job_services.claim_jobs(worker=first)
    job_services.append_records(worker=first, job_id=job.pk, lease=claimed.lease_id, records=[])
    now = silent(first)
    reclaim_lost_jobs(now=now)

    assert reclaim_lost_jobs(now=now).failed == []
    with pytest.raises(Conflict):
        job_services.finish_job(worker=first, job_id=job.pk, lease=claimed.lease_id, status="Completed", exit_code=0)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


def test_a_worker_within_its_lease_keeps_its_jobs(setup):
    account, first, _ = setup
    job = start(account)
    job_services.claim_jobs(worker=first)

    assert reclaim_lost_jobs(now=first.last_seen_at + offline_after() - timedelta(seconds=1)).requeued == []
    job.refresh_from_db()
    assert job.status == JobStatus.ACTIVATING


def test_a_removed_workers_jobs_are_taken_back_too(setup):
    account, first, _ = setup
    job = start(account)
    (claimed,) = job_services.claim_jobs(worker=first)
    job_services.append_records(worker=first, job_id=job.pk, lease=claimed.lease_id, records=[])
    remove_worker(account=account, worker_id=first.pk, actor=SYSTEM)

    assert reclaim_lost_jobs().failed == [str(job.pk)]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


def test_a_job_being_stopped_when_its_worker_is_lost_ends_stopped(setup):
    account, first, _ = setup
    job = start(account)
    (claimed,) = job_services.claim_jobs(worker=first)
    job_services.append_records(worker=first, job_id=job.pk, lease=claimed.lease_id, records=[])
    job_services.request_stop(job=Job.objects.get(pk=job.pk), actor=SYSTEM)

    reclaim_lost_jobs(now=silent(first))

    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED
    assert "worker lost" in job.status_reason
