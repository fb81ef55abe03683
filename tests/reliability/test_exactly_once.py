"""Exactly once, end to end: real agents share a group's jobs, and every job runs once and only once.

Several `hybridworker run` processes of one group take jobs from one real daphne. Each job runs a Bash
runbook that appends its own job id to one shared file: afterwards every started job must be in the
file exactly once (no job lost, none run twice), every job must have ended Completed on one of the
agents, and more than one agent must have taken work. Jobs are started through the service layer in
this process; daphne and the agents share its (transactional, so committed) database.

The time the whole run took is printed, not asserted (`pytest -s` shows it).
"""

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import transaction

from automation.models import FINAL_STATUSES, HybridWorker, Job, JobStatus
from automation.services.actor import Actor
from automation.services.jobs import start_job
from automation.services.keys import reveal_keys
from automation.services.runbooks import create_runbook, publish_runbook
from tests.support.daphne import start_daphne_at
from tests.support.processes import Process
from tests.workers.conftest import (
    PROXY_VARIABLES,
    Agent,
    folder_for_agents,
    register,
    wait_for_heartbeat_after,
    wait_until,
    worker_of,
)

GROUP = "ledger-writers"
RUNBOOK = "append-job-id"
SYSTEM = Actor.for_system()
CAPACITY = 4
# Heartbeats every 2 s; the rate limit on failed sign-ins must never get in the way of a busy run.
SERVER_SETTINGS = {"HEARTBEAT_INTERVAL_SECONDS": "2", "AUTH_FAILURES_PER_MINUTE": "100000"}
# Only reached when something is wrong: the run itself takes a fraction of this.
ALL_FINAL_DEADLINE = 240.0

# The ledger's path comes as a declared string parameter, i.e. as `runbook.sh --Ledger PATH` (and in
# parameters.json). The runbook runs with a minimal environment in its sandbox: the path is absolute.
APPEND_JOB_ID = """\
if [ "$1" != "--Ledger" ] || [ -z "$2" ]; then echo "ERROR: no --Ledger argument" >&2; exit 3; fi
echo "$HYBRIDWORKER_JOB_ID" >> "$2"
echo "appended $HYBRIDWORKER_JOB_ID"
"""
DECLARED = [{"name": "Ledger", "type": "string", "required": True}]


class Cluster:
    """One daphne and a group of registered, running agents."""

    def __init__(self, account, server: Process, url: str, key: str, root: Path, agent_env: dict[str, str]) -> None:
        self.account = account
        self.server = server
        self.endpoint = f"{url}/agentsvc/accounts/{account.pk}"
        self.key = key
        self.root = root
        self.agent_env = agent_env
        self.agents: list[Agent] = []

    def add_agents(self, count: int) -> list[Agent]:
        """Register `count` agents into GROUP, start `hybridworker run` on each, wait for a heartbeat of each."""
        fresh = []
        for number in range(1, count + 1):
            name = f"worker{number:02d}"
            agent = Agent(self.root / name / "state", self.agent_env, [])
            agent.state_dir.parent.mkdir(parents=True)
            self.agents.append(agent)
            register(agent, self.endpoint, self.key, GROUP, "--name", name)
            fresh.append((agent, worker_of(agent).last_seen_at))
        for agent, _ in fresh:
            agent.start("--capacity", str(CAPACITY), "--stop-grace", "2", "--shutdown-grace", "2")
        # The server learns the capacity from the first heartbeat of `run`; then the agent starts polling.
        for agent, seen in fresh:
            wait_for_heartbeat_after(agent, seen, "the first heartbeat of run")
        return [agent for agent, _ in fresh]

    def stop(self) -> None:
        """SIGTERM every run (it stops its runbooks), SIGKILL whatever does not exit in time."""
        for agent in self.agents:
            for run in agent.runs:
                if run.alive():
                    run.popen.send_signal(signal.SIGTERM)
        for agent in self.agents:
            for run in agent.runs:
                try:
                    run.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    run.kill()

    def dead_agents(self) -> list[str]:
        return [
            f"{agent.state_dir.parent.name} exited with {run.popen.returncode}:\n{agent.everything_it_said()[-3000:]}"
            for agent in self.agents
            for run in agent.runs
            if not run.alive()
        ]

    def what_agents_said(self) -> str:
        return "\n".join(
            f"--- {agent.state_dir.parent.name}:\n{agent.everything_it_said()[-3000:]}" for agent in self.agents
        )


@pytest.fixture
def cluster(server_env, log_dir, transactional_db, people, tmp_path):
    # As root the runbooks run as another user, who must pass through the agents' folders and write the ledger.
    root = folder_for_agents(tmp_path)
    process, url = start_daphne_at({**server_env, **SERVER_SETTINGS}, log_dir)
    agent_env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
    agent_env = {k: v for k, v in agent_env.items() if not k.startswith("PYTEST_")} | {"PYTHONUNBUFFERED": "1"}
    keys = reveal_keys(account=people.account, actor=Actor(user=people.owner))
    cluster = Cluster(people.account, process, url, keys["primary"], root / "agents", agent_env)
    try:
        yield cluster
    finally:
        cluster.stop()
        process.stop()
        if root != tmp_path:
            shutil.rmtree(root, ignore_errors=True)


def run_jobs_exactly_once(cluster: Cluster, *, agents: int, jobs: int) -> None:
    ledger_dir = cluster.root.parent / "shared"
    ledger_dir.mkdir()
    ledger = ledger_dir / "job-ids.txt"
    ledger.touch()
    ledger_dir.chmod(0o755)
    ledger.chmod(0o666)
    runbook = create_runbook(
        account=cluster.account,
        name=RUNBOOK,
        runbook_type="bash",
        actor=SYSTEM,
        content=APPEND_JOB_ID,
        parameters=DECLARED,
    )
    publish_runbook(runbook=runbook, actor=SYSTEM)
    cluster.add_agents(agents)
    workers = {w.pk: w.name for w in HybridWorker.objects.filter(group__account=cluster.account, group__name=GROUP)}
    assert len(workers) == agents

    def start() -> Job:
        parameters = {"Ledger": str(ledger)}
        return start_job(
            account=cluster.account, runbook_name=RUNBOOK, group_name=GROUP, actor=SYSTEM, parameters=parameters
        )

    # Half the jobs appear at once (one commit: every waiting agent is woken for them together), the
    # other half one by one while those run, so claims race both each other and new jobs arriving.
    began = time.monotonic()
    with transaction.atomic():
        started = [start() for _ in range(jobs // 2)]
    started += [start() for _ in range(jobs - jobs // 2)]
    queued = time.monotonic()
    started_ids = {str(job.pk) for job in started}
    assert len(started_ids) == jobs

    def all_final() -> bool:
        problems = cluster.dead_agents()
        assert not problems, "an agent's run exited during the test:\n" + "\n".join(problems)
        return Job.objects.filter(pk__in=started_ids, status__in=FINAL_STATUSES).count() == jobs

    try:
        wait_until(all_final, f"all {jobs} jobs to end", timeout=ALL_FINAL_DEADLINE, every=0.25)
    except AssertionError as exc:
        counts = Counter(Job.objects.filter(pk__in=started_ids).values_list("status", flat=True))
        raise AssertionError(f"{exc}; statuses: {dict(counts)}\n{cluster.what_agents_said()}") from None
    took = time.monotonic() - began
    print(
        f"\n{jobs} jobs on {agents} agents (capacity {CAPACITY} each): queued in {queued - began:.1f} s, "
        f"all ended after {took:.1f} s, {jobs / took:.1f} jobs/s"
    )

    done = list(Job.objects.filter(pk__in=started_ids))
    assert len(done) == jobs
    not_completed = [(str(j.pk), j.status, j.status_reason) for j in done if j.status != JobStatus.COMPLETED]
    assert not not_completed, f"{len(not_completed)} job(s) did not complete, e.g. {not_completed[:5]}"
    assert all(j.exit_code == 0 for j in done)

    lines = ledger.read_text().splitlines()
    assert len(lines) == jobs, f"the ledger has {len(lines)} lines for {jobs} jobs"
    twice = {job_id: n for job_id, n in Counter(lines).items() if n > 1}
    assert not twice, f"job ids appended more than once: {twice}"
    assert set(lines) == started_ids, (
        f"missing: {sorted(started_ids - set(lines))[:5]}, unknown: {sorted(set(lines) - started_ids)[:5]}"
    )

    assert {j.worker_id for j in done} <= set(workers), "every job ran on a worker of the group"
    assert all(j.worker_name == workers[j.worker_id] for j in done)
    per_worker = Counter(j.worker_name for j in done)
    print(f"jobs per worker: {dict(sorted(per_worker.items()))}")
    assert len(per_worker) >= 2, f"one worker took every job: {dict(per_worker)}"

    # Retries hide a refused report from the outcome; the server's log still shows it.
    server_log = cluster.server.output()
    assert "database is locked" not in server_log
    assert "Traceback" not in server_log, server_log[-4000:]
    # Nor did any agent meet a refused report, a failed poll, or go over its capacity on the way.
    for agent in cluster.agents:
        troubles = [line for line in agent.log.splitlines() if " WARNING " in line or " ERROR " in line]
        assert not troubles, f"{agent.state_dir.parent.name}: {troubles[:5]}"


@pytest.mark.heavy
@pytest.mark.timeout(600)
def test_three_agents_run_300_jobs_each_exactly_once(cluster):
    run_jobs_exactly_once(cluster, agents=3, jobs=300)


@pytest.mark.sqlite
@pytest.mark.heavy
@pytest.mark.timeout(600)
def test_two_agents_run_60_jobs_each_exactly_once(cluster):
    """The same on either database; under TEST_DATABASE=sqlite it is the embedded default, which must hold."""
    run_jobs_exactly_once(cluster, agents=2, jobs=60)
