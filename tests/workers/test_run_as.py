"""A root agent runs runbooks as an unprivileged user, and keeps jobs out of the agent's files and each other's.

Skipped unless the tests run as root (they do in CI): only root can switch users.
"""

import json
import stat

import psutil
import pytest

from automation.models import JobStatus
from tests.workers.conftest import AS_ROOT, wait_until
from tests.workers.jobs_support import ended, publish, running, sandbox, start, texts
from workers.identity import PRIVATE_GIDS

pytestmark = pytest.mark.skipif(not AS_ROOT, reason="only an agent running as root runs jobs as another user")

# For each path given, says whether this job could read (or list) it.
PROBE = """
import grp, json, os, pwd, sys
def probe(path):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as handle:
                handle.read(1)
        return "read"
    except OSError as exc:
        return type(exc).__name__
with open(os.environ["HYBRIDWORKER_PARAMETERS_FILE"]) as handle:
    paths = json.load(handle)["Paths"]
print(json.dumps({path: probe(path) for path in paths}))
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "user": os.environ["USER"], "groups": os.getgroups()}))
with open(os.path.join(os.environ["TMPDIR"], "scratch"), "w") as handle:
    handle.write("mine")
print("wrote in TMPDIR")
"""
PATHS = [{"name": "Paths", "type": "json"}]


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def probed(job) -> tuple[dict[str, str], dict]:
    access, identity, wrote = texts(job)
    assert wrote == "wrote in TMPDIR"
    return json.loads(access), json.loads(identity)


def test_a_root_agents_job_runs_as_nobody_and_reads_neither_the_credential_nor_another_jobs_sandbox(people, worker):
    agent = worker("asroot01")
    publish(people.account, "earlier", "bash", 'echo "kept in the sandbox" > "$TMPDIR/x"; echo done\n')
    publish(people.account, "probe", "python3", PROBE, PATHS)
    earlier = ended(start(people.account, "earlier"), agent)
    assert earlier.status == JobStatus.COMPLETED, earlier.status_reason

    state = agent.state_dir
    other = sandbox(agent, earlier)
    targets = [
        state / "credential",
        state / "registration.json",
        state / "hybridworker.log",
        state,
        state / "sandboxes",
        other,
        other / "job.log",
        other / "parameters.json",
        other / "runbook.sh",
    ]
    job = start(people.account, "probe", parameters={"Paths": [str(path) for path in targets]})
    ended(job, agent)
    assert job.status == JobStatus.COMPLETED, job.status_reason
    access, identity = probed(job)
    assert access == {str(path): "PermissionError" for path in targets}
    assert identity["uid"] == 65534 and identity["user"] == "nobody"
    assert identity["gid"] != 65534, "a private primary group of its own"
    assert identity["groups"] == [65534], "nobody's own groups, none of root's"
    assert f"job {job.pk} started: runbook 'probe' version 1 (python3), pid" in agent.log
    assert ", as nobody, sandbox" in agent.log

    assert mode(state) == 0o711 and mode(state / "sandboxes") == 0o711
    for name in ("credential", "registration.json", "hybridworker.log", "machine_id"):
        assert mode(state / name) == 0o600, name
    own = sandbox(agent, job)
    assert (own.stat().st_uid, own.stat().st_gid, mode(own)) == (0, 0, 0o700), "closed again once the job ended"
    assert mode(own / "job.log") == 0o600 and (own / "job.log").stat().st_uid == 0


# Waits (up to a minute) with a secret parameter, a secret file in its TMPDIR and a secret in its environment.
HOLDER = """
import os, time
with open(os.path.join(os.environ["TMPDIR"], "a-secret.txt"), "w") as handle:
    handle.write("temp-secret-of-A")
print(os.getpid(), os.getcwd(), flush=True)
time.sleep(60)
"""
# Given another job's pid and sandbox, tries everything that would show that job's parameters or files.
PRYING = """
import json, os
with open(os.environ["HYBRIDWORKER_PARAMETERS_FILE"]) as handle:
    target = json.load(handle)
pid, folder = target["Pid"], target["Sandbox"]
tries = {
    "environ": f"/proc/{pid}/environ",
    "cwd": f"/proc/{pid}/cwd",
    "cwd parameters": f"/proc/{pid}/cwd/parameters.json",
    "memory maps": f"/proc/{pid}/maps",
    "sandbox": folder,
    "parameters": os.path.join(folder, "parameters.json"),
    "runbook": os.path.join(folder, "runbook.py"),
    "tmp": os.path.join(folder, "tmp"),
    "temp file": os.path.join(folder, "tmp", "a-secret.txt"),
}
found = {}
for name, path in tries.items():
    try:
        if os.path.isdir(path):
            found[name] = "listed " + ",".join(os.listdir(path))
        else:
            with open(path, "rb") as handle:
                found[name] = "read " + handle.read().decode(errors="replace")
    except OSError as exc:
        found[name] = type(exc).__name__
print(json.dumps(found))
"""


def test_two_jobs_running_at_once_cannot_read_each_others_parameters_environment_or_temp_files(people, worker):
    agent = worker("parallel01", "--capacity", "2")
    publish(people.account, "holder", "python3", HOLDER, [{"name": "Secret", "type": "string"}])
    publish(people.account, "prying", "python3", PRYING, [{"name": "Pid", "type": "int"}, {"name": "Sandbox"}])
    holder = running(start(people.account, "holder", parameters={"Secret": "param-secret-of-A"}), agent)
    said = wait_until(lambda: texts(holder), "the holder to say where it is", agent=agent)
    pid, folder = said[0].split(" ", 1)
    assert folder == str(sandbox(agent, holder))

    prying = ended(start(people.account, "prying", parameters={"Pid": int(pid), "Sandbox": folder}), agent)
    assert prying.status == JobStatus.COMPLETED, prying.status_reason
    holder.refresh_from_db()
    assert holder.status == JobStatus.RUNNING, "both ran at the same time"
    (found,) = texts(prying)
    assert "secret-of-A" not in found
    assert json.loads(found) == {
        "environ": "PermissionError",
        "cwd": "PermissionError",
        "cwd parameters": "PermissionError",
        "memory maps": "PermissionError",
        "sandbox": "PermissionError",
        "parameters": "PermissionError",
        "runbook": "PermissionError",
        "tmp": "PermissionError",
        "temp file": "PermissionError",
    }
    holder_process = psutil.Process(int(pid))
    assert holder_process.uids().real == 65534 and holder_process.gids().real in PRIVATE_GIDS
