"""Another machine, end to end: the two lines the group blade's Add a worker shows, run as shown.

The install line (`curl … /agentsvc/install.sh | sh`) against a real daphne makes a fresh virtual environment
outside the checkout, with no project on its path, and installs the wheel the portal serves; pip takes the
agent's requirements from the machine's configured package index. Then the register line, with the key on
standard input, a job run to completion by that installed agent (its output arriving while it runs), and
the next one after the portal went away and came back.

It runs twice: with the machine's python3, and with the oldest Python the agent promises to run on
(3.9, else 3.10) when this machine has one: a worker machine often has only its distribution's Python
(3.9 on RHEL 9 and Debian 11), while the project itself is developed on a newer one.
"""

import os
import re
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
from tests.workers.conftest import GROUP, assert_no_secrets, folder_for_agents, wait_until, worker_of
from tests.workers.jobs_support import ended, publish, sandbox, start, texts

# What the README and install.sh promise (agent_package.MIN_PYTHON); below 3.11 is what matters here.
OLDER_PYTHONS = ((3, 9), (3, 10))
# pip fetches httpx and psutil (from the machine's package index or its mirror): minutes at most.
INSTALL_TIMEOUT = 600
# Byte-compiles every file of the installed package and imports every module but `__main__` (which would
# run the command): an import is where a newer Python's syntax or standard library shows, before any job.
IMPORT_EVERYTHING = """
import pathlib, pkgutil, importlib, sys, workers
folder = pathlib.Path(workers.__file__).parent
for path in sorted(folder.rglob("*.py")):
    compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
names = [m.name for m in pkgutil.walk_packages([str(folder)], "workers.") if m.name != "workers.__main__"]
for name in names:
    importlib.import_module(name)
print("%d.%d" % sys.version_info[:2], len(names))
"""


def oldest_supported_python() -> tuple[str, tuple[int, int]] | None:
    """The oldest of OLDER_PYTHONS on this machine that runs and has venv with ensurepip.

    PATH may hold a pyenv shim that exits "command not found" for a version pyenv does not select, so a
    candidate counts only if it runs and says its version; pyenv's own installs are looked at too.
    """
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for major, minor in OLDER_PYTHONS:
        name = f"python{major}.{minor}"
        candidates = [shutil.which(name), *sorted(str(p) for p in pyenv.glob(f"{major}.{minor}.*/bin/{name}"))]
        for candidate in filter(None, candidates):
            try:
                said = subprocess.run(
                    [candidate, "-c", "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    stdin=subprocess.DEVNULL,
                )
            except OSError:
                continue
            if said.returncode == 0 and said.stdout.strip() == f"{major}.{minor}":
                return candidate, (major, minor)
    return None


@pytest.fixture(params=["python3", "oldest"])
def python(request) -> tuple[list[str], str | None]:
    """The install line's extra options for the Python to install with, and the version it must give."""
    if request.param == "python3":
        return [], None
    found = oldest_supported_python()
    if found is None:
        pytest.skip("no Python 3.9 or 3.10 (with venv) on this machine: only its default python3 is tested")
    path, version = found
    return ["--python", path], "{}.{}".format(*version)


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


def test_the_install_and_register_lines_make_a_working_worker_on_another_machine(server, people, keys, machine, python):
    assert shutil.which("curl", path=machine.env["PATH"]), "the install line needs curl on this machine"
    prefix, bin_dir = machine.home / "agent", machine.home / "bin"
    python_options, python_version = python

    # 1. The install line as the portal shows it, with the options a person may add after `sh -s --`.
    line = install_line(server.url)
    options = shlex.join(["--prefix", str(prefix), "--bin-dir", str(bin_dir), *python_options])
    installed = machine.sh(f"{line} -s -- {options}", timeout=INSTALL_TIMEOUT)

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
    imported = machine.sh(shlex.join([f"{prefix}/bin/python", "-c", IMPORT_EVERYTHING]))
    assert imported.returncode == 0, imported.stderr
    version, modules = imported.stdout.split()
    assert re.fullmatch(re.escape(python_version) if python_version else r"3\.\d+", version), (
        f"installed with Python {version}"
    )
    assert int(modules) > 20, "every module of the agent was imported"

    # 2. The register line as shown, run by the installed command, the key on standard input.
    args = shlex.split(register_line(endpoint=server.endpoint(people.account), group_name=GROUP))
    assert args[0] == "hybridworker"
    register = shlex.join([str(bin_dir / "hybridworker"), *args[1:], "--state-dir", str(machine.state_dir)])
    registered = machine.sh(register, stdin=keys["primary"] + "\n")

    assert registered.returncode == 0, registered.stdout + registered.stderr
    worker = worker_of(machine)
    assert worker.group.name == GROUP

    # 3. The service of the installed agent runs a job to completion; its output arrives while it runs
    # (the agent sends records on a timer), before the test lets it end.
    run = [str(command), "run", "--state-dir", str(machine.state_dir), "--stop-grace", "2", "--shutdown-grace", "2"]
    with open(machine.home / "run.out", "wb") as out:
        # --verbose: the log then says each time the agent waits for jobs and fails (step 4 counts them).
        machine.run = subprocess.Popen(
            [*run, "--verbose"], cwd=machine.home, env=machine.env, stdout=out, stderr=subprocess.STDOUT
        )
    publish(
        people.account,
        "hello-installed",
        "bash",
        'echo "hello from $HYBRIDWORKER_JOB_ID"\nwhile [ ! -e go ]; do sleep 0.1; done\necho bye',
    )
    job = start(people.account, "hello-installed")
    wait_until(lambda: texts(job) == [f"hello from {job.pk}"], "the first line, while the job runs", agent=machine)
    (sandbox(machine, job) / "go").touch()

    job = ended(job, machine)
    assert job.status == JobStatus.COMPLETED, job.status_reason
    assert texts(job) == [f"hello from {job.pk}", "bye"]
    assert job.worker_id == worker.pk
    assert worker_of(machine).version == workers.__version__

    # 4. It rides out the portal going away (it retries after a pause) and runs the next job once it is back.
    server.stop()
    log = machine.state_dir / "hybridworker.log"
    wait_until(lambda: log.read_text().count("waiting for jobs failed") >= 2, "a second attempt", agent=machine)
    server.start_again()
    publish(people.account, "after-outage", "bash", "echo back")
    after = ended(start(people.account, "after-outage"), machine)
    assert after.status == JobStatus.COMPLETED, after.status_reason
    assert texts(after) == ["back"]
    assert machine.run.poll() is None, "the service kept running"
    assert_no_secrets(machine.everything_it_said() + (machine.home / "run.out").read_text(), keys["primary"])
