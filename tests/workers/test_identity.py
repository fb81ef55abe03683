"""workers.identity: who jobs run as, and their private groups."""

import os
import subprocess

import pytest

from workers import cli
from workers.errors import EXIT_USAGE, AgentError
from workers.identity import PrivateGroups, closed_folder, kill_group_members, resolve_run_as

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
