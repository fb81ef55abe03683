"""Another machine, end to end: the two lines the group blade's Add a worker shows, run as shown.

The install line (`curl … /agentsvc/install.sh | sh`) against a real daphne makes a fresh virtual environment
outside the checkout, with no project on its path, and installs the wheel the portal serves; pip takes the
agent's requirements from the machine's configured package index. Then the register line, with the key on
standard input, and a job run to completion by that installed agent.
"""

import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import workers
from automation.agent_package import install_line, register_line
from automation.models import JobStatus
from tests.support.processes import BIN
from tests.workers.conftest import GROUP, assert_no_secrets, folder_for_agents, worker_of
from tests.workers.jobs_support import ended, publish, start, texts

# pip fetches httpx and psutil (from the machine's package index or its mirror): minutes at most.
INSTALL_TIMEOUT = 600


class Installed:
    """The agent as installed on "another machine": its own folder, its own environment."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.said: list[str] = []
        self.command: Path | None = None
        self.state_dir = home / "state"
        self.run: subprocess.Popen | None = None

    def machine_id(self) -> str:
        return (self.state_dir / "machine_id").read_text().strip()

    def sh(self, line: str, *, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["/bin/sh", "-c", line],
            cwd=self.home,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.said += [result.stdout, result.stderr]
        return result

    def everything_it_said(self) -> str:
        log = self.state_dir / "hybridworker.log"
        return "\n".join([*self.said, log.read_text(errors="replace") if log.exists() else ""])


@pytest.fixture
def machine(tmp_path, agent_env):
    """A folder and an environment that know nothing of the checkout: no PYTHONPATH, not the suite's venv."""
    home = folder_for_agents(tmp_path)
    path = os.pathsep.join(p for p in agent_env["PATH"].split(os.pathsep) if Path(p) != BIN)
    env = {k: v for k, v in agent_env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE")}
    env.update({"PATH": path, "HOME": str(home / "home")})
    installed = Installed(home, env)
    yield installed
    if installed.run is not None and installed.run.poll() is None:
        installed.run.send_signal(signal.SIGTERM)
        try:
            installed.run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            installed.run.kill()
            installed.run.wait()
    if home != tmp_path:
        shutil.rmtree(home, ignore_errors=True)


def test_the_install_and_register_lines_make_a_working_worker_on_another_machine(server, people, keys, machine):
    assert shutil.which("curl", path=machine.env["PATH"]), "the install line needs curl on this machine"
    prefix, bin_dir = machine.home / "agent", machine.home / "bin"

    # 1. The install line as the portal shows it, with the options a person may add after `sh -s --`.
    line = install_line(server.url)
    installed = machine.sh(f"{line} -s -- --prefix {prefix} --bin-dir {bin_dir}", timeout=INSTALL_TIMEOUT)

    assert installed.returncode == 0, installed.stdout + installed.stderr
    command = prefix / "bin" / "hybridworker"
    assert installed.stdout.splitlines()[-1] == str(command), "its last line is the command's full path"
    assert (bin_dir / "hybridworker").resolve() == command.resolve()
    probe = machine.sh(
        f"{prefix}/bin/python -c 'import importlib.util, workers; "
        'print(workers.__file__); print(importlib.util.find_spec("django"))\''
    )
    where, django = probe.stdout.split()
    assert Path(where).is_relative_to(prefix), "the agent runs from its own environment, not the checkout"
    assert django == "None", "the agent's environment has no Django"

    # 2. The register line as shown, run by the installed command, the key on standard input.
    args = shlex.split(register_line(endpoint=server.endpoint(people.account), group_name=GROUP))
    assert args[0] == "hybridworker"
    register = shlex.join([str(bin_dir / "hybridworker"), *args[1:], "--state-dir", str(machine.state_dir)])
    registered = machine.sh(register, stdin=keys["primary"] + "\n")

    assert registered.returncode == 0, registered.stdout + registered.stderr
    worker = worker_of(machine)
    assert worker.group.name == GROUP

    # 3. The service of the installed agent runs a job to completion.
    with open(machine.home / "run.out", "wb") as out:
        machine.run = subprocess.Popen(
            [str(command), "run", "--state-dir", str(machine.state_dir), "--stop-grace", "2", "--shutdown-grace", "2"],
            cwd=machine.home,
            env=machine.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    publish(people.account, "hello-installed", "bash", 'echo "hello from $HYBRIDWORKER_JOB_ID"')
    job = start(people.account, "hello-installed")

    job = ended(job, machine)
    assert job.status == JobStatus.COMPLETED, job.status_reason
    assert texts(job) == [f"hello from {job.pk}"]
    assert job.worker_id == worker.pk
    assert worker_of(machine).version == workers.__version__
    assert_no_secrets(machine.everything_it_said() + (machine.home / "run.out").read_text(), keys["primary"])
