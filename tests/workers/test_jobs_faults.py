"""Real agents, a real server, faults: a worker paused past its lease, a service that leaves, a timed-out
process tree, output too large for one record.
"""

import os
import signal
from datetime import timedelta

from django.utils import timezone

from automation.models import JobStatus, JobStream
from automation.services.leases import reclaim_lost_jobs
from automation.services.presence import offline_after
from tests.workers.conftest import (
    AS_ROOT,
    processes_in,
    session_members,
    wait_for_heartbeat_after,
    wait_until,
    worker_of,
)
from tests.workers.jobs_support import ended, publish, running, sandbox, start, streams, texts

QUIET = "echo started\nsleep 300\n"
# The first attempt leaves a mark and waits; the next one finds it and ends.
TWO_ATTEMPTS = """\
if [ -e "$2" ]; then echo "next attempt"; exit 0; fi
touch "$2"; echo "first attempt"; sleep 300
"""


def pause_past_the_lease(agent, job) -> None:
    """SIGSTOP the agent (its runbook goes on), let the server's sweep take the job back, SIGCONT."""
    run = agent.runs[-1]
    run.popen.send_signal(signal.SIGSTOP)
    try:
        taken = reclaim_lost_jobs(now=timezone.now() + offline_after() + timedelta(seconds=1))
        assert str(job.pk) in [*taken.failed, *taken.retried]
    finally:
        run.popen.send_signal(signal.SIGCONT)


def test_a_worker_paused_past_its_lease_kills_the_job_it_lost_without_reporting_it(people, worker):
    agent = worker("paused01")
    publish(people.account, "quiet", "bash", QUIET)
    job = running(start(people.account, "quiet"), agent)
    folder = sandbox(agent, job)
    wait_until(lambda: texts(job) == ["started"], "the runbook's line", agent=agent)
    assert processes_in(folder)

    pause_past_the_lease(agent, job)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.status_reason.startswith("worker lost: paused01")
    wait_until(lambda: not processes_in(folder), "the lost job's runbook to be killed", agent=agent)
    wait_until(lambda: f"job {job.pk}: ended, unreported" in agent.log, "the log to say so", agent=agent)
    assert f"the server took back job {job.pk}: this worker was silent past their lease" in agent.log
    # The heartbeat goes on without it, accepted; the job keeps the end the server gave it.
    wait_for_heartbeat_after(agent, worker_of(agent).last_seen_at, "a heartbeat accepted after it")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.status_reason.startswith("worker lost")
    assert texts(job) == ["started"]


def test_a_lost_job_with_a_retry_left_runs_again_once_the_paused_copy_is_gone(people, worker):
    agent = worker("paused02")
    shared = agent.home / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    publish(people.account, "twice", "bash", TWO_ATTEMPTS, [{"name": "Marker", "type": "string"}], retries=1)
    job = running(start(people.account, "twice", parameters={"Marker": str(shared / "mark")}), agent)
    wait_until(lambda: texts(job) == ["first attempt"], "the first attempt's line", agent=agent)
    first = processes_in(sandbox(agent, job))
    assert first

    pause_past_the_lease(agent, job)
    ended(job, agent)
    assert job.status == JobStatus.COMPLETED, job.status_reason
    assert job.attempt == 2
    records = streams(job)
    assert records[0] == ("output", "first attempt")
    assert records[1][0] == "warning" and "attempt 1 ended here" in records[1][1]
    assert records[2:] == [("output", "next attempt")]
    assert not any(process.is_running() and process.status() != "zombie" for process in first)


def test_a_stopped_service_tells_the_server_it_leaves_and_shows_offline_at_once(people, worker):
    agent = worker("leave01")
    seen = wait_for_heartbeat_after(agent, worker_of(agent).last_seen_at)
    assert agent.runs[-1].terminate() == 0
    registered = worker_of(agent)
    assert registered.left_at is not None and registered.left_at >= seen
    assert "told the server this worker is leaving" in agent.log


SLEEPERS = """
sleep 300 &
echo "child $!"
{escapee}
sleep 300
"""


def test_a_timed_out_job_leaves_no_process_of_its_tree_behind(people, worker):
    agent = worker("timeout01")
    # A root agent's jobs run in a private group: even a process that left the session is found and killed.
    escapee = "setsid sleep 301 < /dev/null > /dev/null 2>&1 &" if AS_ROOT else ""
    publish(people.account, "sleepers", "bash", SLEEPERS.format(escapee=escapee))
    job = start(people.account, "sleepers", timeout_seconds=3)
    folder = sandbox(agent, job)
    count = 4 if AS_ROOT else 3
    members = wait_until(lambda: len(processes_in(folder)) >= count and processes_in(folder), "bash and its sleeps")
    sid = os.getsid(members[0].pid)
    assert len({os.getsid(member.pid) for member in members}) == (2 if AS_ROOT else 1)

    ended(job, agent)
    assert job.status == JobStatus.FAILED
    assert job.status_reason == "timed out after 3 s"
    assert texts(job)[0].startswith("child ")
    assert not session_members(sid), "the background child went with the runbook"
    assert not processes_in(folder), "nothing of the job is left, what left its session included"


LONG_LINES = """
import sys
sys.stdout.write("L" * (2 * 1024 * 1024) + "\\n")
for i in range(3000):
    print(f"{i:04d}" + "." * 996)
"""


def test_output_bigger_than_a_record_and_than_a_batch_arrives_whole_and_in_order(people, worker):
    agent = worker("big01")
    publish(people.account, "big", "python3", LONG_LINES)
    job = ended(start(people.account, "big"), agent)
    assert job.status == JobStatus.COMPLETED, job.status_reason
    first, *rest = texts(job)
    kept = len(first) - len(first.lstrip("L"))
    assert first == "L" * kept + f" … [cut: {2 * 1024 * 1024 - kept} more characters]"
    assert len(first) <= 1024 * 1024 and kept > 1024 * 1024 - 40
    assert rest == [f"{i:04d}" + "." * 996 for i in range(3000)]
    assert JobStream.objects.filter(job=job).count() == 3001


# 60 MiB of numbered 1,000-character lines (61,440 of them), past the default 50 MiB cap.
SIXTY_MIB = """\
import sys
line = "." * 993
write = sys.stdout.write
for i in range(61440):
    write(f"{i:06d} {line}\\n")
"""


def test_60_mib_of_output_keeps_the_head_and_the_tail_and_states_the_gap(people, worker):
    agent = worker("sixty01")
    publish(people.account, "sixty", "python3", SIXTY_MIB)

    job = ended(start(people.account, "sixty"), agent, timeout=240)

    assert job.status == JobStatus.COMPLETED, job.status_reason
    records = streams(job)  # numbered without a gap
    warnings = [(index, text) for index, (kind, text) in enumerate(records) if kind == "warning"]
    assert len(warnings) == 2, warnings
    (passed_at, passed), (gap_at, gap) = warnings
    assert passed.startswith("output passed this job's cap of 50 MiB")
    assert "were left out" in gap
    numbers = [int(text[:6]) for kind, text in records if kind == "output"]
    # The head from the first line, the tail up to the last line, each without a hole; what is missing between them
    # is what the gap record counts.
    head, tail = numbers[:passed_at], numbers[gap_at - 1 :]
    assert head == list(range(len(head))) and head[0] == 0
    assert tail == list(range(tail[0], 61440)) and tail[-1] == 61439
    left_out = tail[0] - len(head)
    assert left_out > 0 and f"{left_out:,} records" in gap
    stored = sum(len(text) + 1 for _, text in records)
    assert 45 * 1024 * 1024 < stored <= 51 * 1024 * 1024
