"""workers.identity: who jobs run as, and their private groups."""

import os
import subprocess

import pytest

from workers import cli
from workers.errors import EXIT_USAGE, AgentError
from workers.identity import (
    PrivateGroups,
    RunAsRefused,
    allowed_users,
    closed_folder,
    job_run_as,
    kill_group_members,
    resolve_run_as,
)

AS_ROOT = os.geteuid() == 0


def test_run_as_needs_root_to_name_another_user(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("workers.identity.os.geteuid", lambda: 4321)
    with pytest.raises(AgentError) as refused:
        resolve_run_as("root")
    assert refused.value.exit_code == EXIT_USAGE == 2
    assert "only an agent running as root can run jobs as another user" in str(refused.value)
    assert resolve_run_as(None) is None

    (tmp_path / "state").mkdir()
    assert cli.main(["run", "--run-as", "root", "--state-dir", str(tmp_path / "state")]) == 2
    assert "--run-as root: only an agent running as root" in capsys.readouterr().err
    assert cli.main(["run", "--run-as", "no-such-user-here", "--state-dir", str(tmp_path / "state")]) == 2
    assert "there is no such user" in capsys.readouterr().err


@pytest.mark.skipif(not AS_ROOT, reason="only a root agent runs jobs as another user")
def test_a_root_agent_runs_jobs_as_nobody_unless_told_otherwise(tmp_path):
    nobody = resolve_run_as(None)
    assert nobody is not None and nobody.name in ("hybridworker", "nobody")
    assert resolve_run_as("root") is None, "--run-as root is an explicit choice: no switch"
    private = tmp_path / "private" / "deeper"
    private.mkdir(parents=True)
    private.parent.chmod(0o700)
    assert closed_folder(nobody, private) in (private.parent, *private.parents)


@pytest.mark.skipif(not AS_ROOT, reason="private groups are a root agent's")
def test_private_groups_are_locked_machine_wide_and_their_processes_killed_on_release():
    # The machine's own lock folder: agents running meanwhile (other tests) must not be given the same gids.
    first, second = PrivateGroups(), PrivateGroups()
    gid = first.acquire()
    assert second.acquire() != gid, "another agent on the machine skips a gid in use"
    sleeper = subprocess.Popen(["sleep", "60"], user=65534, group=gid, start_new_session=True)
    try:
        assert first.release(gid) == 1
        assert sleeper.wait(timeout=10) == -9
    finally:
        sleeper.kill()
    assert kill_group_members(gid) == 0
    second.release_all()


# ---- a group's Run as user, judged for each job (workers.identity.job_run_as) ----------------------------


def test_an_agent_that_is_not_root_runs_a_groups_jobs_only_as_itself_and_says_how_to_fix_it(
    monkeypatch, tmp_path, capsys
):
    # No agent can run as another user here with the test's interpreter (it sits under /root), so the agent's
    # uid is changed for the agent's own code only.
    monkeypatch.setattr("workers.identity.os.geteuid", lambda: 4321)
    with pytest.raises(RunAsRefused) as refused:
        job_run_as("deploy", frozenset({"deploy"}), "web-01")
    assert str(refused.value) == (
        "Run as: worker web-01's agent does not run as root, so it runs every job as itself ('4321'), not as "
        "'deploy'; run it as root with --allow-run-as deploy"
    )
    assert job_run_as("4321", frozenset(), "web-01") is None, "its own user: nothing to switch"

    with pytest.raises(AgentError) as listed:
        allowed_users(["4321,deploy"])
    assert listed.value.exit_code == EXIT_USAGE
    assert "--allow-run-as deploy: only an agent running as root" in str(listed.value)
    assert allowed_users(["4321"]) == {"4321"}
    (tmp_path / "state").mkdir()
    assert cli.main(["run", "--allow-run-as", "deploy", "--state-dir", str(tmp_path / "state")]) == 2
    assert "--allow-run-as deploy: only an agent running as root" in capsys.readouterr().err


def test_allow_run_as_takes_commas_and_repeats():
    assert allowed_users(None) == frozenset()
    if AS_ROOT:
        assert allowed_users(["daemon, bin", "root", ",,"]) == {"daemon", "bin", "root"}


@pytest.mark.skipif(not AS_ROOT, reason="only a root agent switches users")
@pytest.mark.parametrize(
    ("user", "allowed", "says"),
    [
        ("bin", {"daemon"}, "Run as: worker w1 may not run jobs as 'bin': start its agent with --allow-run-as bin"),
        ("root", {"daemon"}, "Run as: worker w1 may not run jobs as 'root': start its agent with --allow-run-as root"),
        ("a b", {"daemon"}, "Run as: worker w1 may not run jobs as 'a b': start its agent with --allow-run-as 'a b'"),
        ("ghost-x9", {"ghost-x9"}, "Run as: user 'ghost-x9' does not exist on worker w1"),
        ("a\x00b", {"a\x00b"}, "Run as: user 'a\\x00b' does not exist on worker w1"),
    ],
)
def test_a_root_agent_refuses_a_user_it_does_not_list_or_that_does_not_exist(user, allowed, says):
    with pytest.raises(RunAsRefused) as refused:
        job_run_as(user, frozenset(allowed), "w1")
    assert str(refused.value).startswith(says)


@pytest.mark.skipif(not AS_ROOT, reason="only a root agent switches users")
def test_a_root_agent_runs_a_listed_user_with_its_groups_and_root_only_when_listed():
    daemon = job_run_as("daemon", frozenset({"daemon"}), "w1")
    assert (daemon.name, daemon.uid, daemon.groups) == ("daemon", 1, (1,))
    assert job_run_as("root", frozenset({"root"}), "w1") is None, "listed by name: run as the agent, root"
