"""workers.cli: the `hybridworker` command line as a whole."""

import importlib
import subprocess
import sys
import tomllib

from tests.support.processes import BASE_DIR
from workers import cli


def test_the_state_dir_may_come_before_the_command(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "workers.cli", "--state-dir", str(tmp_path / "s"), "status"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"not registered (state folder {tmp_path / 's'})" in result.stderr
    register = f"'hybridworker register --group NAME --endpoint URL --token - --state-dir {tmp_path / 's'}'"
    assert register in result.stderr


def hybridworker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=BASE_DIR, capture_output=True, text=True, timeout=60)


def test_python_dash_m_workers_and_workers_cli_are_the_same_command():
    for options in (["--help"], ["run", "--help"], ["--version"]):
        package, cli_package = hybridworker("-m", "workers", *options), hybridworker("-m", "workers.cli", *options)
        assert package.returncode == cli_package.returncode == 0
        assert package.stdout == cli_package.stdout != ""
    no_command = hybridworker("-m", "workers")
    assert no_command.returncode == 2
    assert "the following arguments are required: COMMAND" in no_command.stderr


def test_the_entry_point_is_the_packages_main():
    scripts = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["hybridworker"].partition(":")
    assert getattr(importlib.import_module(module), function) is cli.main


def test_every_command_module_is_a_command_and_each_command_has_its_module():
    helpers = {"__init__", "__main__", "options", "access_key"}
    modules = {path.stem for path in (BASE_DIR / "workers" / "cli").glob("*.py")} - helpers
    assert {name.replace("-", "_") for name in cli.COMMANDS} == modules
    assert all(name.replace("_", "-") == importlib.import_module(f"workers.cli.{name}").NAME for name in modules)
    assert list(cli.COMMANDS) == ["register", "remove", "run", "status", "diagnose", "install-service", "asset"]
