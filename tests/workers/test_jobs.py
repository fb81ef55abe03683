"""Real agents run real jobs: streams, parameters, failures, PowerShell, stop, timeout, SHA-256, capacity.

Jobs are started through the service layer in this process; daphne and the agents share its database.
The tests marked sqlite also run against the embedded SQLite default.
"""

import itertools
import json
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from automation.models import FINAL_STATUSES, Job, JobStatus, JobStream, RunbookVersion
from automation.services.jobs import request_stop
from tests.workers.conftest import processes_in, session_members, start_run, wait_until
from tests.workers.jobs_support import (
    SYSTEM,
    ended,
    publish,
    running,
    sandbox,
    start,
    streams,
    texts,
)

# ---- streams --------------------------------------------------------------------------------

BASH_STREAMS = r"""
echo "starting"
for i in $(seq 1 40); do echo "line $i"; done
echo "WARNING: disk almost full"
echo "VERBOSE:no space after the colon"
echo "ERROR: said on stdout"
echo "on stderr" >&2
echo "WARNING: said on stderr" >&2
printf 'no newline at the end'
"""


@pytest.mark.sqlite
def test_a_bash_job_streams_its_output_in_order_and_completes(people, worker):
    agent = worker("bash01")
    publish(people.account, "streams", "bash", BASH_STREAMS)
    job = ended(start(people.account, "streams"), agent)

    assert job.status == JobStatus.COMPLETED, job.status_reason
    assert job.exit_code == 0 and job.status_reason == ""
    assert job.worker_name == "bash01" and job.started_at and job.ended_at >= job.started_at
    records = streams(job)
    output = texts(job)
    assert output == ["starting", *(f"line {i}" for i in range(1, 41)), "no newline at the end"]
    # stdout and stderr are two pipes: which the agent reads first is not defined, so records from
    # different pipes are compared without their order.
    assert sorted(text for kind, text in records if kind == "warning") == ["disk almost full", "said on stderr"]
    assert texts(job, "verbose") == ["no space after the colon"]
    assert sorted(texts(job, "error")) == ["on stderr", "said on stdout"]
    # stdout alone keeps its order exactly.
    stdout_order = [text for kind, text in records if text != "on stderr" and text != "said on stderr"]
    assert stdout_order.index("line 40") < stdout_order.index("disk almost full") < stdout_order.index("said on stdout")

    folder = sandbox(agent, job)
    assert (folder / "runbook.sh").read_text() == BASH_STREAMS
    assert json.loads((folder / "parameters.json").read_text()) == {}
    logged = [json.loads(line) for line in (folder / "job.log").read_text().splitlines()]
    assert [(r["seq"], r["stream"], r["text"]) for r in logged] == [(i, s, t) for i, (s, t) in enumerate(records)]
    assert all(r["time"].endswith("+00:00") for r in logged)
    assert json.loads((folder / "result.json").read_text())["status"] == "Completed"
    assert not (folder / "tmp").exists()
    assert f"job {job.pk} started: runbook 'streams' version 1 (bash)" in agent.log
    # The end is logged once the server has the report.
    wait_until(lambda: f"job {job.pk} ended Completed (exit code 0) after " in agent.log, "the end in the log")


# ---- parameters and the Python helper --------------------------------------------------------

PYTHON_PARAMETERS = """
import json, os, sys
print(json.dumps(sys.argv[1:]))
with open(os.environ["HYBRIDWORKER_PARAMETERS_FILE"]) as handle:
    print(json.dumps(json.load(handle), sort_keys=True))
print(os.environ["HYBRIDWORKER_JOB_ID"])
print(os.environ["HYBRIDWORKER_SANDBOX"] == os.getcwd() == os.environ["HOME"])
print(os.environ["TMPDIR"] == os.path.join(os.getcwd(), "tmp"))
print(sorted(k for k in os.environ if k.startswith("HYBRIDWORKER_")))
"""

PYTHON_HELPER = """
import hybridworker_runbook as hrw
hrw.write_verbose("connecting")
hrw.write_progress(50)
hrw.write_warning("two\\nlines")
hrw.write_output({"state": "ok"})
hrw.write_progress("almost done")
hrw.write_error("bad thing")
print("job", hrw.job_id(), hrw.parameters()["me"])
"""

DECLARED = [
    {"name": "Name", "type": "string", "required": True},
    {"name": "Count", "type": "int", "required": False, "default": 3},
    {"name": "Force", "type": "bool", "required": False},
    {"name": "Servers", "type": "json", "required": False},
]
SECRET_VALUE = "p4ss-w0rd-in-a-parameter"


def test_parameters_arrive_as_named_arguments_and_in_a_json_file(people, worker):
    agent = worker("py01")
    publish(people.account, "params", "python3", PYTHON_PARAMETERS, DECLARED)
    values = {"Name": SECRET_VALUE + " two words", "Force": False, "Servers": ["web01", {"port": 443}]}
    job = ended(start(people.account, "params", parameters=values), agent)

    assert job.status == JobStatus.COMPLETED, job.status_reason
    argv, file, job_id, folders, tmp, names = texts(job)
    assert json.loads(argv) == [
        "--Name",
        SECRET_VALUE + " two words",
        "--Count",
        "3",
        "--Force",
        "false",
        "--Servers",
        '["web01",{"port":443}]',
    ]
    assert json.loads(file) == {**values, "Count": 3}
    assert job_id == str(job.pk)
    assert folders == "True" and tmp == "True"
    assert names == str(
        [
            "HYBRIDWORKER_ASSETS_TOKEN",
            "HYBRIDWORKER_ASSETS_URL",
            "HYBRIDWORKER_JOB_ID",
            "HYBRIDWORKER_PARAMETERS_FILE",
            "HYBRIDWORKER_SANDBOX",
        ]
    )
    assert SECRET_VALUE not in agent.everything_it_said(), "parameter values stay out of the agent's log"


def test_the_python_helper_writes_verbose_progress_warning_and_error_records(people, worker):
    agent = worker("py02")
    publish(people.account, "helper", "python3", PYTHON_HELPER, [{"name": "me", "type": "string"}])
    job = ended(start(people.account, "helper", parameters={"me": "nobody"}), agent)

    assert job.status == JobStatus.COMPLETED, job.status_reason
    records = streams(job)
    stdout = [record for record in records if record != ("error", "bad thing")]
    assert stdout == [
        ("verbose", "connecting"),
        ("progress", "50%"),
        ("warning", "two"),
        ("warning", "lines"),
        ("output", '{"state": "ok"}'),
        ("progress", "almost done"),
        ("output", f"job {job.pk} nobody"),
    ]
    assert ("error", "bad thing") in records


# ---- failures ---------------------------------------------------------------------------------

BASH_FAILS = r"""
echo "working"
for i in $(seq 1 8); do echo "problem $i" >&2; done
exit 2
"""


def test_failing_runbooks_end_failed_with_the_exit_code_and_their_last_error_lines(people, worker):
    # Queued before the agent runs: it takes them when it starts.
    agent = worker("fail01", run=False)
    publish(people.account, "fails", "bash", BASH_FAILS)
    publish(people.account, "broken", "python3", "print('fine so far')\ndef broken(:\n    pass\n")
    version = publish(people.account, "tampered", "bash", "echo 'the published content'\n")
    fails = start(people.account, "fails")
    broken = start(people.account, "broken")
    tampered = start(people.account, "tampered")
    RunbookVersion.objects.filter(pk=version.pk).update(content="echo 'something else'\n")
    start_run(agent)

    ended(fails, agent)
    assert fails.status == JobStatus.FAILED
    assert fails.exit_code == 2
    assert fails.status_reason == "exit code 2: " + "\n".join(f"problem {i}" for i in range(4, 9))
    assert texts(fails) == ["working"]

    ended(broken, agent)
    assert broken.status == JobStatus.FAILED
    assert broken.exit_code == 1
    assert broken.status_reason.startswith("exit code 1: ")
    assert "SyntaxError" in broken.status_reason
    assert texts(broken) == [], "a syntax error stops Python before the first line runs"

    ended(tampered, agent)
    assert tampered.status == JobStatus.FAILED
    assert tampered.status_reason == "the runbook content does not match its SHA-256"
    assert tampered.exit_code is None
    assert not (sandbox(agent, tampered) / "runbook.sh").exists(), "content that fails the check is never written"
    assert "problem 8" not in agent.log, "a runbook's own error lines stay out of the agent's log"


# ---- PowerShell -----------------------------------------------------------------------------

FAKE_PWSH = """#!/bin/sh
# A stand-in for PowerShell: prints each argument it was given on a line of its own.
for arg in "$@"; do printf '[%s]\\n' "$arg"; done
"""


def test_powershell_fails_clearly_without_pwsh_and_gets_named_parameters_from_a_stand_in(people, worker, agent_env):
    bare_path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    assert shutil.which("pwsh", path=bare_path) is None, "this test needs a machine without PowerShell"
    agent = worker("ps01", env={**agent_env, "PATH": bare_path})
    publish(people.account, "ps", "powershell", "param($Name, $Count)\nWrite-Output $Name\n", DECLARED)
    missing = ended(start(people.account, "ps", parameters={"Name": "x"}), agent)
    assert missing.status == JobStatus.FAILED
    assert missing.status_reason == "PowerShell (pwsh) is not installed on worker ps01"
    assert missing.exit_code is None

    agent.runs[-1].terminate()
    bin_dir = agent.home / "bin"
    bin_dir.mkdir()
    (bin_dir / "pwsh").write_text(FAKE_PWSH)
    (bin_dir / "pwsh").chmod(0o755)
    start_run(agent, env={**agent_env, "PATH": f"{bin_dir}:{bare_path}"})
    values = {"Name": "two words", "Force": True, "Servers": ["web01", "web02"]}
    job = ended(start(people.account, "ps", parameters=values), agent)
    assert job.status == JobStatus.COMPLETED, job.status_reason
    script = sandbox(agent, job) / "runbook.ps1"
    assert script.read_text() == "param($Name, $Count)\nWrite-Output $Name\n"
    assert texts(job) == [
        f"[{arg}]"
        for arg in (
            "-NoLogo",
            "-NoProfile",
            "-NonInteractive",
            "-File",
            str(script),
            "-Name",
            "two words",
            "-Count",
            "3",
            "-Force",
            "true",
            "-Servers",
            '["web01","web02"]',
        )
    ]


# ---- stop, timeout, shutdown -----------------------------------------------------------------

SLEEPER = """
sleep 300 &
echo "child $!"
sleep 300
"""


@pytest.mark.sqlite
def test_stop_ends_the_whole_process_tree_and_a_timeout_fails_the_job(people, worker):
    agent = worker("stop01", "--capacity", "2")
    publish(people.account, "sleeper", "bash", SLEEPER)
    publish(people.account, "slow", "bash", "echo begin\nsleep 30\necho never\n")
    job = running(start(people.account, "sleeper"), agent)
    slow = start(people.account, "slow", timeout_seconds=2)

    folder = sandbox(agent, job)
    members = wait_until(lambda: len(processes_in(folder)) >= 3 and processes_in(folder), "bash and both sleeps")
    sid = os.getsid(members[0].pid)
    assert {os.getsid(p.pid) for p in members} == {sid}
    assert any(p.cmdline() == ["sleep", "300"] for p in session_members(sid))

    request_stop(job=job, actor=SYSTEM)
    ended(job, agent)  # long before the sleeps would end by themselves
    assert job.status == JobStatus.STOPPED
    assert job.status_reason == "stopped by request"
    assert job.exit_code is None or job.exit_code < 0
    assert not processes_in(folder)
    assert not session_members(sid), "no process of the runbook's session is left, the background child included"
    assert texts(job)[0].startswith("child ")

    ended(slow, agent)
    assert slow.status == JobStatus.FAILED
    assert slow.status_reason == "timed out after 2 s"
    assert texts(slow) == ["begin"]
    assert not processes_in(sandbox(agent, slow))


def test_a_service_stopped_while_a_job_runs_stops_the_job_and_reports_it(people, worker):
    agent = worker("term01")
    publish(people.account, "long", "bash", SLEEPER)
    job = running(start(people.account, "long"), agent)
    folder = sandbox(agent, job)
    wait_until(lambda: len(processes_in(folder)) >= 3, "bash and both sleeps")

    run = agent.runs[-1]
    run.popen.send_signal(signal.SIGTERM)
    assert run.wait() == 0
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED
    assert "was shutting down" in job.status_reason
    assert not processes_in(folder)
    assert "waiting up to 2 s for 1 running job(s) to end" in agent.log


# ---- a short outage ----------------------------------------------------------------------------


def test_records_written_while_the_server_is_away_arrive_once_and_in_order(people, worker, server):
    agent = worker("outage01")
    publish(people.account, "ticker", "bash", "for i in $(seq 0 79); do echo tick $i; sleep 0.1; done\n")
    job = running(start(people.account, "ticker"), agent)
    wait_until(lambda: JobStream.objects.filter(job=job).exists(), "the first records", agent=agent)

    # A crash, not a graceful stop (which would first wait for the agent's waiting long-poll). The server
    # comes back once the agent has noticed, however long that takes on a busy machine.
    server.process.stop(signal.SIGKILL)
    wait_until(lambda: "server unreachable" in agent.log, "the agent to find the server gone", agent=agent)
    server.start_again()

    ended(job, agent)
    assert job.status == JobStatus.COMPLETED, job.status_reason
    assert texts(job) == [f"tick {i}" for i in range(80)]


# ---- capacity ------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_worker_never_runs_more_jobs_than_its_capacity(people, worker):
    from automation.models import ACTIVE_STATUSES

    agent = worker("cap01", run=False)
    publish(people.account, "short", "bash", "echo start\nsleep 1\necho done\n")
    jobs = [start(people.account, "short") for _ in range(3)]
    start_run(agent, "--capacity", "1")

    most = 0

    def all_ended():
        nonlocal most
        active = Job.objects.filter(worker_name="cap01", status__in=ACTIVE_STATUSES).count()
        most = max(most, active)
        return Job.objects.filter(pk__in=[j.pk for j in jobs], status__in=FINAL_STATUSES).count() == 3

    wait_until(all_ended, "three jobs to end", every=0.05, agent=agent)
    assert most == 1
    done = sorted(Job.objects.filter(pk__in=[j.pk for j in jobs]), key=lambda j: j.started_at)
    assert [j.status for j in done] == [JobStatus.COMPLETED] * 3
    for before, after in itertools.pairwise(done):
        assert after.claimed_at >= before.ended_at, "the next job was taken only after the previous one ended"
    assert agent.everything_it_said().count("over this worker's capacity") == 0
