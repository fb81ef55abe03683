"""Faults, end to end, with real processes: agents killed or paused, the server killed mid-stream.

Real `hybridworker run` processes, a real daphne, and (where leases must run out) a real Celery worker
and Celery beat whose presence sweep takes jobs back. Heartbeats every 2 s make the lease (three
heartbeats) 6 s: short enough to wait out, long enough that a busy machine delaying a live agent's
heartbeats does not take its jobs away. The sweep runs every half second. Jobs are started through
the service layer in this process, on the same (committed) database. Times are printed, never asserted.
"""

import contextlib
import os
import shutil
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from automation.models import HybridWorker, Job, JobStatus, JobStream
from automation.services.actor import Actor
from automation.services.jobs import start_job
from tests.support.builders import make_runbook
from tests.support.celery_beat import start_celery_beat
from tests.support.processes import start_celery_worker
from tests.workers.conftest import (
    FAST,
    Server,
    folder_for_agents,
    processes_in,
    register,
    wait_for_heartbeat_after,
    wait_until,
    worker_of,
)

SYSTEM = Actor.for_system()
GROUP = "faulty"
HEARTBEAT = {"HEARTBEAT_INTERVAL_SECONDS": "2"}
SWEEP = {**HEARTBEAT, "PRESENCE_SWEEP_SECONDS": "0.5"}

# The first attempt leaves a mark and then runs long (its worker is killed meanwhile); a retry finds
# the mark and ends at once. The mark's folder is shared by the test's agents.
RUN_ONCE_LONG = """\
mark="$2"
if [ ! -e "$mark" ]; then
  touch "$mark"
  echo "first attempt on $HYBRIDWORKER_JOB_ID, running long"
  sleep 120
fi
echo "done"
"""
MARKED = [{"name": "Mark", "type": "string", "required": True}]
SLEEP = 'echo "sleeping $2"; sleep "$2"; echo "slept"'
SECONDS = [{"name": "Seconds", "type": "int", "required": True}]
# 20 lines a second, numbered, for as long as asked.
COUNT_LINES = 'for i in $(seq 1 "$2"); do echo "line $i"; sleep 0.05; done'
LINES = [{"name": "Lines", "type": "int", "required": True}]


@dataclass
class Stack:
    server: Server
    account: object
    key: str

    @property
    def endpoint(self) -> str:
        return self.server.endpoint(self.account)


@pytest.fixture
def stack(server_env, log_dir, tmp_path, transactional_db, people, keys):
    """daphne, and a Celery worker and beat sweeping presence (and leases) twice a second."""
    server = Server(server_env, log_dir, SWEEP)
    env = {**server.env}
    started = [server.process]
    try:
        started.append(start_celery_worker(env, log_dir))
        started.append(start_celery_beat(env, log_dir, tmp_path / "beat"))
        yield Stack(server=server, account=people.account, key=keys["primary"])
    finally:
        for process in reversed(started):
            process.stop()
        server.process.stop()


def runbook(account, name: str, content: str, declared: list, *, retries: int = 0) -> None:
    make_runbook(account, name, content=content, parameters=declared, retries=retries)


def start(account, name: str, **parameters) -> Job:
    return start_job(account=account, runbook_name=name, group_name=GROUP, parameters=parameters, actor=SYSTEM)


def join(stack: Stack, make_agent, name: str, *run_args: str):
    agent = make_agent(name)
    register(agent, stack.endpoint, stack.key, GROUP, "--name", name)
    seen = worker_of(agent).last_seen_at
    agent.start("--capacity", "1", *FAST, *run_args)
    wait_for_heartbeat_after(agent, seen, "the first heartbeat of run")
    return agent


def status_of(job: Job) -> Job:
    job.refresh_from_db()
    return job


def kill_leftovers(folder: Path) -> None:
    for process in processes_in(folder):
        with contextlib.suppress(psutil.Error):
            process.kill()


@pytest.mark.parametrize("retries", [0, 1])
def test_a_killed_agents_job_is_lost_or_retried_and_the_queue_drains_on_the_other(stack, make_agent, tmp_path, retries):
    # The agents' runbooks run as another user when these tests run as root: the mark's folder is theirs too.
    shared = folder_for_agents(tmp_path) / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    runbook(stack.account, "once-long", RUN_ONCE_LONG, MARKED, retries=retries)
    runbook(stack.account, "sleep", SLEEP, SECONDS)
    agents = {name: join(stack, make_agent, name) for name in ("alpha", "bravo")}
    try:
        long_job = start(stack.account, "once-long", Mark=str(shared / "mark"))
        wait_until(lambda: JobStream.objects.filter(job=long_job).exists(), "the long job's first line")
        victim_name = status_of(long_job).worker_name
        victim, survivor = agents[victim_name], agents[next(n for n in agents if n != victim_name)]
        queued = [start(stack.account, "sleep", Seconds=0) for _ in range(5)]

        victim.runs[-1].popen.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()

        if retries:
            wait_until(lambda: status_of(long_job).status == JobStatus.COMPLETED, "the retry to complete", timeout=60)
            assert long_job.attempt == 2 and long_job.retries_left == 0
            assert long_job.worker_name != victim_name
            texts = list(JobStream.objects.filter(job=long_job).order_by("seq").values_list("text", flat=True))
            assert texts[0].startswith("first attempt on")
            assert "attempt 1 ended here" in texts[1]
            assert texts[-1] == "done"
        else:
            wait_until(lambda: status_of(long_job).is_final, "the lost job to end", timeout=60)
            assert long_job.status == JobStatus.FAILED
            assert long_job.status_reason.startswith(f"worker lost: {victim_name}")
        took = time.monotonic() - killed_at
        print(f"\nretries={retries}: the lost job was {long_job.status} {took:.1f} s after SIGKILL")
        wait_until(lambda: all(status_of(job).is_final for job in queued), "the queue to drain", timeout=60)
        # The runbook died with its agent; what it started (its `sleep`) goes when the agent comes back.
        victim.start("--capacity", "1", *FAST)
        wait_until(lambda: not processes_in(victim.state_dir), "the leftovers of the killed agent's runbook to go")
        survivor_name = survivor.state_dir.parent.name
        assert {(job.status, job.worker_name) for job in queued} == {(JobStatus.COMPLETED, survivor_name)}
    finally:
        for agent in agents.values():
            kill_leftovers(agent.state_dir)
        if shared.parent != tmp_path:
            shutil.rmtree(shared.parent, ignore_errors=True)


def test_a_paused_agents_late_reports_are_refused_and_change_nothing(stack, make_agent):
    runbook(stack.account, "count", COUNT_LINES, LINES)
    agent = join(stack, make_agent, "sleepy")
    try:
        job = start(stack.account, "count", Lines=2000)
        wait_until(lambda: JobStream.objects.filter(job=job).count() >= 20, "the first records")
        agent_process = agent.runs[-1].popen

        agent_process.send_signal(signal.SIGSTOP)
        try:
            wait_until(lambda: status_of(job).is_final, "the paused worker's job to be taken back", timeout=30)
            # A report holds the job's row until it is stored, and one that comes later is refused: what
            # is stored now is all that ever will be.
            ended = status_of(job)
            kept = list(JobStream.objects.filter(job=job).order_by("seq").values_list("seq", "text"))
            worker_seen = worker_of(agent).last_seen_at
        finally:
            agent_process.send_signal(signal.SIGCONT)

        # Back from the pause, the agent reports what it buffered and heartbeats with the old lease: 409s.
        wait_until(lambda: not processes_in(agent.state_dir), "the agent to end the lost job's runbook", agent=agent)
        wait_until(lambda: worker_of(agent).last_seen_at > worker_seen, "a heartbeat accepted again", agent=agent)
        # Once its run has ended, the agent says nothing more about the job.
        wait_until(lambda: f"job {job.pk}: ended, unreported" in agent.log, "the lost run to end", agent=agent)
        after = status_of(job)
        assert (after.status, after.status_reason, after.ended_at) == (
            ended.status,
            ended.status_reason,
            ended.ended_at,
        )
        assert after.status == JobStatus.FAILED and after.status_reason.startswith("worker lost: sleepy")
        assert list(JobStream.objects.filter(job=job).order_by("seq").values_list("seq", "text")) == kept
        assert agent.runs[-1].alive(), agent.everything_it_said()[-3000:]
    finally:
        kill_leftovers(agent.state_dir)


def test_the_server_killed_and_restarted_mid_stream_loses_and_doubles_nothing(
    server_env, log_dir, transactional_db, people, keys, make_agent
):
    # No sweep here: the lease must not run out while the server is down (heartbeats every 2 s).
    server = Server(server_env, log_dir, HEARTBEAT)
    stack = Stack(server=server, account=people.account, key=keys["primary"])
    runbook(stack.account, "count", COUNT_LINES, LINES)
    agent = join(stack, make_agent, "streamer")
    try:
        job = start(stack.account, "count", Lines=300)
        wait_until(lambda: JobStream.objects.filter(job=job).count() >= 40, "the first records")

        server.process.stop(signal.SIGKILL)
        down_at = time.monotonic()
        # Down until the agent has noticed, however long that takes on a busy machine.
        wait_until(lambda: "server unreachable" in agent.log, "the agent to find the server gone", agent=agent)
        server.start_again()
        print(f"\nthe server was down {time.monotonic() - down_at:.1f} s")

        wait_until(lambda: status_of(job).is_final, "the job to end", timeout=60, agent=agent)
        assert job.status == JobStatus.COMPLETED, job.status_reason
        rows = list(JobStream.objects.filter(job=job).order_by("seq").values_list("seq", "text"))
        assert [seq for seq, _ in rows] == list(range(300))
        assert [text for _, text in rows] == [f"line {i}" for i in range(1, 301)]
        assert not [text for text, n in Counter(t for _, t in rows).items() if n > 1]
    finally:
        kill_leftovers(agent.state_dir)
        server.stop()


def test_an_agent_stopped_with_sigterm_hands_its_worker_back_at_once(stack, make_agent):
    """The service tells the server it is leaving: Offline at once, no lease to wait out."""
    runbook(stack.account, "sleep", SLEEP, SECONDS)
    agent = join(stack, make_agent, "polite")
    worker = worker_of(agent)

    agent.runs[-1].popen.send_signal(signal.SIGTERM)
    assert agent.runs[-1].wait(timeout=30) == 0, agent.everything_it_said()[-3000:]

    worker = HybridWorker.objects.get(pk=worker.pk)
    assert worker.left_at is not None and worker.left_at >= worker.last_seen_at
    job = start(stack.account, "sleep", Seconds=0)
    from automation.queries.waiting import annotate_waiting_reasons

    annotate_waiting_reasons([job])
    assert job.waiting_reason.startswith(f"Waiting: every worker in group {GROUP} is offline (polite last seen")
    assert os.path.exists(agent.state_dir)
