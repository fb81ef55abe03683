"""workers.systemd (`hybridworker install-service`): a systemd unit per state folder that does not restart a removed
worker, named as `systemd-escape` names it."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import BASE_DIR
from workers.systemd import escape_path


def hybridworker(*args: str, cwd=BASE_DIR, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=60, **kwargs
    )


def test_print_shows_the_unit_for_this_state_folder(tmp_path):
    result = hybridworker("install-service", "--print", "--state-dir", "agent state", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    state = tmp_path / "agent state"
    unit = result.stdout
    assert f"ExecStart={sys.executable.rsplit('/', 1)[0]}/hybridworker run --state-dir '{state}'" in unit
    assert "Restart=on-failure" in unit
    assert "RestartPreventExitStatus=3" in unit
    assert "WantedBy=multi-user.target" in unit
    assert unit.startswith("# /etc/systemd/system/hybridworker-")
    assert not state.exists(), "printing the unit must not create the state folder"


def test_each_state_folder_gets_a_unit_of_its_own(tmp_path):
    first = hybridworker("install-service", "--print", "--state-dir", str(tmp_path / "one"))
    second = hybridworker("install-service", "--print", "--state-dir", str(tmp_path / "two"))
    assert first.stdout.splitlines()[0] != second.stdout.splitlines()[0]


def test_the_service_user_and_proxy_settings_go_into_the_unit(tmp_path):
    env = {**os.environ, "HTTPS_PROXY": "http://proxy.corp.example:3128", "NO_PROXY": ".corp.example"}
    result = hybridworker("install-service", "--print", "--user", "hrw", "--state-dir", str(tmp_path), env=env)
    assert "User=hrw" in result.stdout
    assert 'Environment="HTTPS_PROXY=http://proxy.corp.example:3128"' in result.stdout
    assert 'Environment="NO_PROXY=.corp.example"' in result.stdout


def test_who_runs_jobs_goes_into_the_units_run_command(tmp_path):
    result = hybridworker(
        "install-service",
        "--print",
        "--state-dir",
        str(tmp_path),
        "--run-as",
        "hrw",
        "--allow-run-as",
        "deploy,daemon",
        "--allow-run-as",
        "backup",
    )
    (exec_start,) = [line for line in result.stdout.splitlines() if line.startswith("ExecStart=")]
    assert exec_start.endswith(f"run --state-dir {tmp_path} --run-as hrw --allow-run-as backup,daemon,deploy")


def test_a_service_that_is_not_root_may_not_promise_other_users(tmp_path):
    result = hybridworker(
        "install-service",
        "--print",
        "--state-dir",
        str(tmp_path),
        "--user",
        "hrw",
        "--allow-run-as",
        "deploy",
        check=False,
    )
    assert result.returncode == 2
    assert "the service runs as hrw, not root" in result.stderr
    assert "ExecStart" not in result.stdout


def test_installing_without_root_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from workers import cli, systemd

    monkeypatch.setattr(systemd.os, "geteuid", lambda: 1000)
    assert cli.main(["install-service", "--state-dir", str(tmp_path / "state")]) == 1
    err = capsys.readouterr().err
    assert "needs root" in err and "--print" in err


def test_installing_writes_the_unit_and_tells_the_systemctl_commands(tmp_path, monkeypatch, capsys):
    from workers import cli, systemd

    monkeypatch.setattr(systemd.os, "geteuid", lambda: 0)
    monkeypatch.setattr(systemd, "UNIT_DIR", tmp_path)
    state = tmp_path / "state"
    assert cli.main(["install-service", "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    (unit,) = tmp_path.glob("hybridworker-*.service")
    assert f"run --state-dir {state}" in unit.read_text()
    assert oct(unit.stat().st_mode & 0o777) == oct(0o644)
    assert "systemctl daemon-reload" in out
    assert f"systemctl enable --now {shlex.quote(unit.name)}" in out


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/var/lib/hybridworker", "var-lib-hybridworker"),
        ("/srv/my-agent/state", "srv-my\\x2dagent-state"),
        ("/opt/agent two", "opt-agent\\x20two"),
    ],
)
def test_unit_names_escape_the_state_folder_like_systemd_escape(path, expected):
    assert escape_path(Path(path)) == expected
