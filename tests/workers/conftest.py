"""The agent as real processes (`python -m workers.cli ...`) against a real daphne on the test's database.

daphne reads this test's rows, so the database is the transactional one (committed data).

Run as root (as here), agents run runbooks as `nobody`, who must pass through to the sandboxes (and
Python runbooks run with the first python3 on PATH it can run). So as root the agents' folders are not
under tmp_path: every pytest session that starts makes /tmp/pytest-of-root private again, which would
shut `nobody` out of the sandboxes of agents still running in another session.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support import waiting
from tests.support.daphne import start_daphne_at
from tests.support.processes import BASE_DIR

# A heartbeat a second keeps the scenarios short; the rate limit would otherwise count the
# deliberate 401s of several tests against one address.
SERVER_SETTINGS = {"HEARTBEAT_INTERVAL_SECONDS": "1", "AUTH_FAILURES_PER_MINUTE": "10000"}
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
DEADLINE = 45.0
AS_ROOT = os.geteuid() == 0
# The group the `worker` fixture's agents join.
GROUP = "runners"
# Short grace periods keep the scenarios (and their teardown) quick.
FAST = ("--stop-grace", "2", "--shutdown-grace", "2")


def folder_for_agents(tmp_path: Path) -> Path:
    """Where a test's agents live: tmp_path, or as root a folder of its own that everyone may pass through."""
    if not AS_ROOT:
        return tmp_path
    folder = Path(tempfile.mkdtemp(prefix="hybridworker-agents-"))
    folder.chmod(0o711)
    return folder


def open_for_jobs(folder: Path) -> None:
    """Let a root agent's run-as user pass through the test's folders (pytest makes them private)."""
    if not AS_ROOT:
        return
    for path in [folder, *folder.parents]:
        mode = path.stat().st_mode
        if not mode & 0o001:
            path.chmod(mode | 0o001)


def wait_until(condition: Callable[[], object], what: str, timeout: float = DEADLINE, every: float = 0.1, agent=None):
    """The suite's wait_until, with what the agent said when it times out."""
    context = (lambda: f"--- what the agent said:\n{agent.everything_it_said()[-4000:]}") if agent else None
    return waiting.wait_until(condition, what, timeout=timeout, every=every, context=context)


def processes_in(folder: Path) -> list[psutil.Process]:
    """Live processes whose working folder is in `folder` (a runbook's, and its children's)."""
    found = []
    for process in psutil.process_iter(["cwd", "status"]):
        cwd = process.info["cwd"]
        if cwd and process.info["status"] != psutil.STATUS_ZOMBIE and Path(cwd).is_relative_to(folder):
            found.append(process)
    return found


def session_members(sid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getsid(process.pid) == sid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process)
        except OSError:
            continue
    return members


class Server:
    """A daphne that a test can stop and start again on the same port."""

    def __init__(self, env: dict[str, str], log_dir: Path, settings: dict[str, str] | None = None) -> None:
        """`settings`: the test's own, over SERVER_SETTINGS."""
        self.env = {**env, **SERVER_SETTINGS, **(settings or {})}
        self.log_dir = log_dir
        self.process, self.url = start_daphne_at(self.env, log_dir)
        self.port = int(self.url.rsplit(":", 1)[1])

    def endpoint(self, account) -> str:
        return f"{self.url}/agentsvc/accounts/{account.pk}"

    def stop(self) -> None:
        self.process.stop()

    def start_again(self) -> None:
        self.process, _ = start_daphne_at(self.env, self.log_dir, port=self.port)


class Run:
    """A `hybridworker run` in the background, its stdout and stderr in files."""

    def __init__(self, args: list[str], env: dict[str, str], directory: Path) -> None:
        stamp = time.monotonic_ns()
        self.stdout_path = directory / f"run-{stamp}.out"
        self.stderr_path = directory / f"run-{stamp}.err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(args, cwd=BASE_DIR, env=env, stdout=out, stderr=err)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float = DEADLINE) -> int:
        return self.popen.wait(timeout=timeout)

    def terminate(self) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        return self.wait()

    def kill(self) -> None:
        if self.alive():
            self.popen.kill()
            self.popen.wait()


class Agent:
    """One agent installation: a state folder on this machine, driven through the real CLI."""

    def __init__(self, state_dir: Path, env: dict[str, str], transcript: list[str]) -> None:
        self.state_dir = state_dir
        self.env = env
        self.transcript = transcript
        self.runs: list[Run] = []
        self.credentials: set[str] = set()

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "workers.cli", *args, "--state-dir", str(self.state_dir)]

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        command = self.command(*args)
        result = subprocess.run(
            command, cwd=BASE_DIR, env=self.env, input=stdin, capture_output=True, text=True, timeout=timeout
        )
        self.transcript += [result.stdout, result.stderr]
        self.remember_credential()
        return result

    def start(self, *args: str) -> Run:
        run = Run(self.command("run", *args), self.env, self.state_dir.parent)
        self.runs.append(run)
        return run

    @property
    def log(self) -> str:
        path = self.state_dir / "hybridworker.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def home(self) -> Path:
        """The agent's own folder (its state folder is in it): a runbook may reach what a test puts here."""
        return self.state_dir.parent

    def file(self, name: str) -> Path:
        return self.state_dir / name

    def machine_id(self) -> str:
        return self.file("machine_id").read_text().strip()

    def remember_credential(self) -> None:
        path = self.file("credential")
        if path.exists():
            self.credentials.add(path.read_text().strip())

    def everything_it_said(self) -> str:
        """stdout and stderr of every command and run, and its log: what must never hold a secret."""
        parts = list(self.transcript)
        for run in self.runs:
            parts += [run.stdout, run.stderr]
        parts.append(self.log)
        return "\n".join(parts)

    def stop_all(self) -> None:
        for run in self.runs:
            run.kill()


@pytest.fixture
def agent_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES and not k.startswith("PYTEST_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def make_agent(tmp_path, agent_env, transactional_db):
    """`make_agent("name")`: a state folder of its own (so a machine id of its own)."""
    agents: list[Agent] = []
    root = folder_for_agents(tmp_path)

    def make(name: str, env: dict[str, str] | None = None) -> Agent:
        agent = Agent(root / name / "state", env or agent_env, [])
        agent.home.mkdir(parents=True)
        agent.home.chmod(0o755)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.stop_all()
    if root != tmp_path:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def server(server_env, log_dir, transactional_db):
    server = Server(server_env, log_dir)
    yield server
    server.stop()


@pytest.fixture
def keys(people) -> dict[str, str]:
    from automation.services.actor import Actor
    from automation.services.keys import reveal_keys

    return reveal_keys(account=people.account, actor=Actor(user=people.owner))


@pytest.fixture
def api_token(people) -> str:
    from automation.services.actor import Actor
    from automation.services.tokens import create_token

    return create_token(user=people.owner, name="agent tests", expires_days=None, actor=Actor.for_system()).plain


def worker_of(agent: Agent):
    from automation.models import HybridWorker

    return HybridWorker.objects.select_related("group").filter(machine_id=agent.machine_id()).first()


def wait_for_heartbeat_after(agent: Agent, seen, what: str = "a heartbeat"):
    """Wait until the worker's last_seen_at moves past `seen`; returns the new value."""

    def newer():
        if agent.runs and not agent.runs[-1].alive():
            raise AssertionError(f"the agent's run exited:\n{agent.everything_it_said()[-4000:]}")
        worker = worker_of(agent)
        return worker.last_seen_at if worker and worker.last_seen_at > seen else None

    return wait_until(newer, f"{what} of {agent.state_dir}", agent=agent)


def register(agent: Agent, server_endpoint: str, key: str, group: str, *extra: str) -> subprocess.CompletedProcess:
    result = agent("register", "--group", group, "--endpoint", server_endpoint, "--token", key, *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def remove_through_management_api(server: Server, account, worker, token: str) -> None:
    response = httpx.delete(
        f"{server.url}/api/v1/accounts/{account.pk}/workers/{worker.pk}/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 204, response.text


def assert_no_secrets(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret, "an empty secret proves nothing"
        assert secret not in text, "a key or credential appeared in the agent's output or log"


def start_run(agent: Agent, *args: str, env: dict[str, str] | None = None) -> Run:
    run = Run(agent.command("run", *FAST, *args), env or agent.env, agent.state_dir.parent)
    agent.runs.append(run)
    return run


@pytest.fixture
def worker(server, people, keys, make_agent):
    """`worker(name, *run options, env=...)`: a registered agent of GROUP; its runs end gracefully afterwards."""
    agents: list[Agent] = []

    def make(name: str, *args: str, env: dict[str, str] | None = None, run: bool = True) -> Agent:
        agent = make_agent(name, env)
        register(agent, server.endpoint(people.account), keys["primary"], GROUP, "--name", name)
        agents.append(agent)
        if run:
            start_run(agent, *args)
        return agent

    yield make
    # SIGTERM first, so the agents stop their runbooks; then nothing of them may be left.
    for agent in agents:
        for run in agent.runs:
            if run.alive():
                run.popen.send_signal(signal.SIGTERM)
        for run in agent.runs:
            if run.alive():
                run.wait()
    leftovers = [process for agent in agents for process in processes_in(agent.home)]
    for process in leftovers:
        process.kill()
    assert not leftovers, f"runbook processes outlived their agent: {leftovers}"
