"""Real `hybridworker run` processes against a stand-in agent API (tests/workers/fakeapi.py), through faults
the real server cannot be made to show on cue: leases taken back, bodies refused as too large, huge output.
"""

import re
import shutil
import signal

import psutil
import pytest

from tests.workers.conftest import Agent, folder_for_agents, processes_in, wait_until
from tests.workers.fakeapi import CREDENTIAL, FakeAgentApi, FakeJob

# Prints a numbered tick every 0.1 s until it is ended.
TICKER = 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.1; done\n'
LIMIT = 1024 * 1024
MIB = 1024 * 1024


@pytest.fixture
def fake():
    with FakeAgentApi() as api:
        yield api
        assert not api.problems, api.problems


@pytest.fixture
def fake_agent(fake, tmp_path, agent_env):
    """`fake_agent(name, *run options)`: a state folder registered with the stand-in, its `run` started."""
    agents: list[Agent] = []
    root = folder_for_agents(tmp_path)

    def start(name: str, *args: str) -> Agent:
        agent = Agent(root / name / "state", agent_env, [])
        agent.home.mkdir(parents=True)
        agent.home.chmod(0o755)
        fake.register(agent.state_dir, name)
        agent.start("--stop-grace", "2", "--shutdown-grace", "2", *args)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        for run in agent.runs:
            if run.alive():
                run.popen.send_signal(signal.SIGTERM)
        for run in agent.runs:
            if run.alive():
                run.wait()
    leftovers = processes_in(root)
    for process in leftovers:
        process.kill()
    if root != tmp_path:
        shutil.rmtree(root, ignore_errors=True)
    assert not leftovers, f"runbook processes outlived their agent: {leftovers}"


def sandbox(agent: Agent, job: FakeJob):
    return agent.state_dir / "sandboxes" / job.id


def finished(fake: FakeAgentApi, job: FakeJob, agent: Agent, timeout: float = 45.0) -> dict:
    wait_until(lambda: job.finish is not None, f"the end of job {job.id}", timeout=timeout, agent=agent)
    assert job.finish is not None
    return job.finish


# ---- leases ----------------------------------------------------------------------------------------


def test_a_heartbeat_refused_for_a_stale_lease_ends_the_job_at_once_unreported_and_beats_again(fake, fake_agent):
    # A long interval, so that "right away" is far from "at the next interval" even on a busy machine.
    fake.heartbeat_interval = 20
    agent = fake_agent("lease01")
    # Quiet after its first line: only the heartbeat can learn that the job was taken back.
    job = fake.queue("bash", "echo started\nsleep 300\n")
    wait_until(lambda: job.records, "the first line", agent=agent)
    held = {"id": job.id, "lease": job.lease}
    assert all(b.body.get("jobs") == [] for b in fake.of("heartbeat")[:1]), "the first heartbeat holds nothing yet"
    assert processes_in(sandbox(agent, job))

    fake.take_back(job)
    refused = wait_until(
        lambda: [b for b in fake.of("heartbeat") if b.body.get("jobs") == [held] and b.at > job.taken_back_at],
        "the heartbeat that learns it",
        agent=agent,
    )[0]
    after = wait_until(lambda: [b for b in fake.of("heartbeat") if b.at > refused.at], "the next heartbeat")[0]
    assert after.at - refused.at < fake.heartbeat_interval / 2, "it beats again right away, not an interval later"
    assert after.body["jobs"] == []
    wait_until(lambda: not processes_in(sandbox(agent, job)), "the runbook to be killed", agent=agent)

    # Once the run has ended, nothing more can be said about it.
    wait_until(lambda: f"job {job.id}: ended, unreported" in agent.log, "the run to end", agent=agent)
    assert job.finish is None and not fake.of("jobs/finish", job), "no end report"
    late = [r for r in fake.of("jobs/records", job) if r.at > refused.at + 0.5]
    assert not late, "no records after it was taken back"
    log = agent.log
    assert f"the server took back job {job.id}: this worker was silent past their lease" in log
    assert f"job {job.id}: ended, unreported: the server takes no more reports on it" in log
    assert (sandbox(agent, job) / "result.json").exists(), "its sandbox counts as finished (and will be pruned)"

    # The worker goes on with other work.
    other = fake.queue("bash", "echo still here\n")
    assert finished(fake, other, agent)["status"] == "Completed"
    assert other.texts() == ["still here"]


def test_records_refused_for_a_lost_lease_end_the_job_at_once_unreported(fake, fake_agent):
    fake.heartbeat_interval = 60  # the reports learn it first
    agent = fake_agent("lease02")
    job = fake.queue("bash", TICKER)
    wait_until(lambda: len(job.records) >= 3, "the first ticks", agent=agent)
    fake.take_back(job)
    wait_until(lambda: not processes_in(sandbox(agent, job)), "the runbook to be killed", agent=agent)
    # Once the run has ended, nothing more can be said about it.
    wait_until(lambda: f"job {job.id}: ended, unreported" in agent.log, "the run to end", agent=agent)
    assert len([r for r in fake.of("jobs/records", job) if r.at > job.taken_back_at]) == 1
    assert not fake.of("jobs/finish", job)


# The first attempt leaves a mark and waits; the next one finds it and ends.
TWO_ATTEMPTS = """\
if [ -e "$2" ]; then echo "next attempt"; exit 0; fi
touch "$2"; echo "first attempt"; sleep 300
"""


def test_a_job_handed_out_again_under_a_new_lease_ends_the_old_run_then_runs_again(fake, fake_agent):
    fake.heartbeat_interval = 60  # only the poll learns it
    agent = fake_agent("again01")
    shared = agent.home / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    job = fake.queue("bash", TWO_ATTEMPTS, parameters={"Marker": str(shared / "mark")})
    wait_until(lambda: job.records, "the first attempt", agent=agent)
    first = processes_in(sandbox(agent, job))
    assert first
    old_lease = job.lease

    fake.run_again(job)
    assert finished(fake, job, agent)["status"] == "Completed"
    assert job.attempts[0][0]["text"] == "first attempt"
    assert job.texts() == ["next attempt"], "numbered from 0 again, under the new lease"
    assert not any(r.body.get("lease") == old_lease for r in fake.of("jobs/finish", job)), "the old run says nothing"
    # Killed; a child of the runbook may linger as a zombie until init reaps it, which is gone enough.
    wait_until(lambda: all(_gone(process) for process in first), "the old run's processes to go", timeout=10)
    assert f"job {job.id} comes again under a new lease; ending the run under the old one" in agent.log
    assert f"job {job.id} started: runbook 'fake' version 1 (bash), attempt 2" in agent.log


# ---- leaving ----------------------------------------------------------------------------------------


def test_sigterm_stops_and_reports_the_jobs_then_tells_the_server_the_worker_leaves(fake, fake_agent):
    agent = fake_agent("leave01")
    job = fake.queue("bash", TICKER)
    wait_until(lambda: len(job.records) >= 3, "the first ticks", agent=agent)
    run = agent.runs[-1]
    run.popen.send_signal(signal.SIGTERM)
    assert run.wait() == 0

    assert job.finish is not None and job.finish["status"] == "Stopped"
    (leave,) = fake.of("leave")
    assert leave.body == {}
    assert leave.authorization == f"Bearer {CREDENTIAL}"
    assert leave.at > fake.of("jobs/finish", job)[0].at, "after the jobs are reported"
    assert "told the server this worker is leaving" in agent.log
    assert agent.log.index("told the server this worker is leaving") < agent.log.index("stopped (exit status 0)")


def test_a_server_that_cannot_be_told_does_not_hold_up_the_stop(fake, fake_agent):
    agent = fake_agent("leave02")
    wait_until(lambda: fake.of("next"), "the first poll", agent=agent)
    fake.stop()
    assert agent.runs[-1].terminate() == 0
    # One attempt, not a retry loop (which would keep the service from stopping).
    assert agent.log.count("could not tell the server this worker is leaving") == 1


# ---- sizes ------------------------------------------------------------------------------------------

# 400 lines of 1,000 characters, one of 300,000, and a last one.
MIXED = """
import sys
for i in range(400):
    print(f"{i:04d}" + "x" * 996)
print("y" * 300_000)
print("end")
"""


def test_batches_refused_as_too_large_go_again_in_halves_and_a_huge_record_is_cut_never_dropped(fake, fake_agent):
    fake.max_body = 64 * 1024
    agent = fake_agent("big01")
    job = fake.queue("python3", MIXED)
    assert finished(fake, job, agent)["status"] == "Completed"

    texts = job.texts()
    assert len(texts) == 402, "nothing dropped"
    assert texts[:400] == [f"{i:04d}" + "x" * 996 for i in range(400)]
    long, last = texts[400:]
    assert last == "end"
    kept = len(long) - len(long.lstrip("y"))
    assert long == "y" * kept + f" … [cut: {300_000 - kept} more characters]"
    assert 1024 <= len(long) < 64 * 1024
    accepted = [r for r in fake.of("jobs/records") + fake.of("jobs/finish") if r.size <= fake.max_body]
    assert max(r.size for r in accepted) <= 64 * 1024
    assert "sending it cut shorter" in agent.log


def test_a_line_over_a_mib_is_one_record_cut_to_a_mib_and_batches_stay_under_2_mib(fake, fake_agent):
    agent = fake_agent("big02")
    content = (
        "import sys\n"
        f"sys.stdout.write('z' * {3 * MIB} + '\\n')\n"
        "for i in range(6000):\n"
        "    print(f'{i:05d}' + 'w' * 995)\n"
    )
    job = fake.queue("python3", content)
    assert finished(fake, job, agent)["status"] == "Completed"

    first, *rest = job.texts()
    assert len(first) <= LIMIT
    kept = len(first) - len(first.lstrip("z"))
    assert first == "z" * kept + f" … [cut: {3 * MIB - kept} more characters]"
    assert LIMIT - len(first) < 40, "as much is kept as the marker leaves room for"
    assert rest == [f"{i:05d}" + "w" * 995 for i in range(6000)]
    assert max(r.size for r in fake.of("jobs/records") + fake.of("jobs/finish")) <= 2 * MIB + 4096


def test_reading_a_huge_line_keeps_the_agent_memory_bounded(fake, fake_agent):
    agent = fake_agent("big03")
    wait_until(lambda: fake.of("next"), "the first poll", agent=agent)
    process = psutil.Process(agent.runs[-1].popen.pid)
    before = process.memory_info().rss
    job = fake.queue("bash", "head -c 268435456 /dev/zero | tr '\\0' 'q'\necho\necho after\n")
    sizes = [before]

    def ended() -> bool:
        sizes.append(process.memory_info().rss)
        assert agent.runs[-1].alive()
        return job.finish is not None

    # Sampled often, to catch the peak; a generous deadline, as 256 MiB goes through the agent.
    wait_until(ended, "the job to end", timeout=120, every=0.02, agent=agent)
    peak = max(sizes)
    assert job.finish["status"] == "Completed"
    first, after = job.texts()
    cut = re.fullmatch(r"(q*) … \[cut: (\d+) more characters\]", first)
    assert cut and len(cut[1]) + int(cut[2]) == 256 * MIB and len(first) <= LIMIT
    assert after == "after"
    assert peak - before < 64 * MIB, f"the agent grew by {(peak - before) / MIB:.0f} MiB reading a 256 MiB line"


# ---- the output cap --------------------------------------------------------------------------------

# About 4 MiB of numbered lines, a wait for the test's file in its sandbox (the job still runs), and a last line.
FLOOD = """
import os, time
for i in range(4000):
    print(f"{i:05d}" + "f" * 1000)
while not os.path.exists("go"):
    time.sleep(0.1)
print("last line")
"""


def test_output_past_its_cap_keeps_the_head_and_the_tail_and_says_what_was_left_out(fake, fake_agent):
    agent = fake_agent("cap01", "--max-output-mb", "1")
    job = fake.queue("python3", FLOOD)

    def warned():
        return [t for t in job.texts("warning") if "from here on only the last" in t]

    wait_until(warned, "the warning that the cap was passed, while the job runs", agent=agent)
    assert job.finish is None
    assert warned() == [
        "output passed this job's cap of 1 MiB: from here on only the last 0.5 MiB are kept, and sent when the job ends"
    ]
    assert f"job {job.id}: its output passed the cap of 1 MiB" in agent.log
    (sandbox(agent, job) / "go").touch()
    assert finished(fake, job, agent)["status"] == "Completed"

    records = [record for _, record in sorted(job.records.items())]
    streams = [r["stream"] for r in records]
    first_warning = streams.index("warning")
    head = [r["text"] for r in records[:first_warning]]
    assert head == [f"{i:05d}" + "f" * 1000 for i in range(len(head))]
    assert 500 <= len(head) <= 525
    summary = records[first_warning + 1]
    assert summary["stream"] == "warning"
    tail = [r["text"] for r in records[first_warning + 2 :]]
    assert tail[-1] == "last line"
    first_of_tail = int(tail[0][:5])
    assert tail[:-1] == [f"{i:05d}" + "f" * 1000 for i in range(first_of_tail, 4000)]
    left_out = first_of_tail - len(head)
    assert summary["text"].startswith(
        f"output passed this job's cap of 1 MiB: {left_out:,} records ({left_out * 1006 / MIB:.1f} MiB) "
        f"between record {first_warning} and the last 0.5 MiB ({len(tail):,} records) were left out"
    )
    assert sum(len(r["text"]) + 1 for r in records) < 1.01 * MIB
    assert "last line" in (sandbox(agent, job) / "job.log").read_text(), "job.log holds what was sent"


def _gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
