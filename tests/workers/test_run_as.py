"""A root agent runs runbooks as an unprivileged user, and keeps jobs out of the agent's files and each other's.

Skipped unless the tests run as root (they do in CI): only root can switch users.
"""

import json
import stat

import psutil
import pytest

from automation.models import JobStatus
from tests.workers.conftest import AS_ROOT, GROUP, wait_until
from tests.workers.jobs_support import SYSTEM, ended, publish, running, sandbox, start, texts
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


# ---- Hybrid worker group settings: the group's Run as credential names the user ---------------------------

WHO = 'echo "$(id -un) $(id -u) $(id -g) $USER"; echo "$(id -G)"\n'


def run_as(people, username: str | None) -> None:
    """The runners group's Run as: a credential with this user name (made on first use), or Default."""
    from automation.models import Credential
    from automation.services.credentials import create_credential
    from automation.services.groups import set_group_run_as

    name = None
    if username is not None:
        name = f"as-{username}"
        if not Credential.objects.filter(account=people.account, name=name).exists():
            create_credential(
                account=people.account, name=name, username=username, password="Never-Sent-Pa55", actor=SYSTEM
            )
    set_group_run_as(account=people.account, group_name=GROUP, credential_name=name, actor=SYSTEM)


def test_a_root_agent_runs_a_groups_jobs_as_its_run_as_user_when_allowed_and_refuses_at_once_otherwise(people, worker):
    agent = worker("runas01", "--allow-run-as", "daemon", "--allow-run-as", "no-such-user-x1")
    publish(people.account, "who", "bash", WHO)

    run_as(people, "daemon")
    job = ended(start(people.account, "who"), agent)
    assert job.status == JobStatus.COMPLETED, job.status_reason
    who, groups = texts(job)
    name, uid, gid, user = who.split()
    assert (name, uid, user) == ("daemon", "1", "daemon")
    assert int(gid) in PRIVATE_GIDS, "a private primary group of its own, as every job of a root agent"
    assert groups.split()[1:] == ["1"], "daemon's own groups, none of root's"
    assert f"job {job.pk} started: runbook 'who' version 1 (bash)" in agent.log and ", as daemon, sandbox" in agent.log
    own = sandbox(agent, job)
    assert (own.stat().st_uid, own.stat().st_gid, mode(own)) == (0, 0, 0o700), "closed again once the job ended"

    refusals = {
        "bin": "Run as: worker runas01 may not run jobs as 'bin': start its agent with --allow-run-as bin",
        "root": "Run as: worker runas01 may not run jobs as 'root': start its agent with --allow-run-as root",
        "no-such-user-x1": "Run as: user 'no-such-user-x1' does not exist on worker runas01: create it there, "
        "or give the group a Run as credential whose user name exists",
    }
    for user, reason in refusals.items():
        run_as(people, user)
        job = ended(start(people.account, "who"), agent)
        assert (job.status, job.status_reason, job.exit_code) == (JobStatus.FAILED, reason, None), user
        assert texts(job) == [], "the runbook never started"
        assert f"job {job.pk} started" not in agent.log
        assert f"job {job.pk}: not started: {reason}" in agent.log
        assert not (sandbox(agent, job) / "runbook.sh").exists()

    # Back to Default: the agent's own run-as user again.
    run_as(people, None)
    job = ended(start(people.account, "who"), agent)
    assert job.status == JobStatus.COMPLETED and texts(job)[0].split()[0] == "nobody"
    assert "Never-Sent-Pa55" not in agent.everything_it_said()


def test_the_failed_jobs_explanation_names_the_fix_on_the_worker_and_in_the_portal(people, worker, server, api_token):
    import httpx

    agent = worker("runas02")
    publish(people.account, "who", "bash", WHO)
    run_as(people, "daemon")
    job = ended(start(people.account, "who"), agent)
    answer = httpx.get(
        f"{server.url}/api/v1/accounts/{people.account.pk}/jobs/{job.pk}/",
        headers={"Authorization": f"Bearer {api_token}"},
        timeout=30,
    ).json()
    assert answer["status"] == "Failed"
    assert answer["status_reason"] == (
        "Failed before it started: worker runas02 may not run jobs as 'daemon': start its agent with "
        "--allow-run-as daemon. Or change the Run as of hybrid worker group runners (Hybrid worker group "
        "settings) to Default, or to a credential whose user that worker allows."
    )


def test_root_runs_a_groups_jobs_only_when_listed_by_name(people, worker):
    agent = worker("runas03", "--allow-run-as", "daemon,root")
    publish(people.account, "who", "bash", WHO)
    run_as(people, "root")
    job = ended(start(people.account, "who"), agent)
    assert job.status == JobStatus.COMPLETED, job.status_reason
    assert texts(job)[0].split()[:2] == ["root", "0"]
