"""The `hybridworker` a runbook finds first on its PATH (workers.sandbox.write_tools), and what it needs to run."""

import shlex
import stat
import subprocess
import sys

from tests.support.processes import BASE_DIR
from workers.sandbox import HELPER_DIR, write_tools

OUTSIDE = "only inside a job run by a Hybrid Runbook Worker"


def test_the_hybridworker_on_a_runbooks_path_runs_this_agents_cli_whatever_the_runbooks_folder_holds(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    folder = write_tools(state, sys.executable)
    shim = folder / "hybridworker"
    assert folder == state / "bin"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755 and stat.S_IMODE(shim.stat().st_mode) == 0o755
    assert write_tools(state, sys.executable) == folder, "written again at the next start"
    assert [path.name for path in folder.iterdir()] == ["hybridworker"]

    # A runbook's working folder with a `workers` package of its own, and a PYTHONPATH pointing at it.
    decoy = tmp_path / "sandbox" / "workers"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise SystemExit('the decoy ran')\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(decoy.parent)}
    result = subprocess.run(
        [str(shim), "asset", "get", "variable", "x"], cwd=decoy.parent, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2, result.stderr
    assert OUTSIDE in result.stderr


def test_hybridworker_asset_runs_with_the_standard_library_alone(tmp_path):
    """As root, runbooks run with a python3 the run-as user can run, which may have no httpx nor psutil."""
    shim = write_tools(tmp_path, sys.executable) / "hybridworker"
    exec_line = shim.read_text().splitlines()[-1]
    _, python, isolated, dash_c, code, _ = shlex.split(exec_line)
    assert (python, isolated, dash_c) == (sys.executable, "-I", "-c")
    # -S: no site-packages at all.
    check = code.replace(
        "from workers.cli import main; sys.exit(main())", "import workers.cli; print(sorted(sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-S", "-I", "-c", check], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert "'httpx'" not in loaded and "'psutil'" not in loaded
    result = subprocess.run(
        [sys.executable, "-S", "-I", "-c", code, "asset", "get", "credential", "Login"],
        env={"HYBRIDWORKER_ASSETS_TOKEN": "x"},
        capture_output=True,
        text=True,
        cwd=BASE_DIR,
    )
    assert result.returncode == 2 and OUTSIDE in result.stderr, result.stderr


def test_outside_a_job_automationassets_and_hybridworker_asset_say_where_they_work(agent_env):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(HELPER_DIR)}
    code = "import automationassets\nautomationassets.get_automation_variable('x')\n"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "automationassets.AutomationAssetError: "
        "Automation assets can be used only inside a job run by a Hybrid Runbook Worker"
    )
    cli = subprocess.run(
        [sys.executable, "-m", "workers.cli", "asset", "get", "variable", "x"],
        env={**agent_env, "HYBRIDWORKER_ASSETS_URL": ""},
        capture_output=True,
        text=True,
        cwd=BASE_DIR,
    )
    assert cli.returncode == 2
    assert OUTSIDE in cli.stderr
