"""`make run`: `python -m portal.launcher` on its own embedded Redis and SQLite file.

The launcher is run as a user runs it, twice on the same VAR_DIR: it must announce the portal
and the login on clean lines, serve /healthz, leave no process behind on Ctrl-C, and on the
second start reuse what the first one made.
"""

import os
import queue
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.postgres import free_port
from tests.support.processes import descendants

BASE_DIR = Path(__file__).resolve().parent.parent
# Start-up migrates a fresh SQLite file and waits for daphne and Celery: generous, and only
# reached when something is wrong.
START_TIMEOUT = 240
STOP_TIMEOUT = 90
# What must not leak in from the test run: the launcher is to start its own Redis and SQLite.
SECRETS = ("REDIS_URL", "DATABASE_URL", "SECRET_KEY", "ACCOUNT_KEY_ENCRYPTION_KEY")
NOT_INHERITED = (*SECRETS, *(f"{name}_FILE" for name in SECRETS), "PORTAL_BASE_URL")


class Launcher:
    """One `python -m portal.launcher`, its stdout read line by line in the background."""

    def __init__(self, var_dir: Path, port: int):
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED and not k.startswith("PYTEST_")}
        env.update({"VAR_DIR": str(var_dir), "PORT": str(port), "PYTHONUNBUFFERED": "1"})
        self.port = port
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.stderr_path = var_dir.parent / f"launcher-{port}.stderr"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in cleanup()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "portal.launcher"],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,  # a Ctrl-C in this terminal is not meant for it
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.popen.stdout:
            self._queue.put(raw.decode("utf-8", errors="replace").rstrip("\n"))
        self._queue.put(None)

    def diagnostics(self) -> str:
        stderr = self.stderr_path.read_text(errors="replace")[-4000:]
        return "stdout:\n" + "\n".join(self.lines) + "\nstderr:\n" + stderr

    def wait_for_line(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match:
        """The first stdout line (seen so far or still to come) that matches `pattern` from column 0."""
        regex = re.compile(pattern)
        for line in self.lines:
            if match := regex.fullmatch(line):
                return match
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s\n{self.diagnostics()}")
            try:
                line = self._queue.get(timeout=min(remaining, 1))
            except queue.Empty:
                continue
            if line is None:
                self.popen.wait(timeout=10)
                raise AssertionError(
                    f"the launcher exited ({self.popen.returncode}) before printing {pattern!r}\n{self.diagnostics()}"
                )
            self.lines.append(line)
            if match := regex.fullmatch(line):
                return match

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal delivers it to a foreground process; returns the exit status."""
        os.kill(self.popen.pid, signal.SIGINT)
        try:
            return self.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            message = f"the launcher did not exit {STOP_TIMEOUT} s after SIGINT\n{self.diagnostics()}"
            raise AssertionError(message) from None

    def cleanup(self, known: list[psutil.Process]) -> None:
        """Whatever a failed test left running: the launcher's session and each child's own."""
        leftovers = [*known, *descendants(self.popen.pid)]
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        for process in leftovers:
            try:
                if process.is_running():
                    process.kill()
            except psutil.NoSuchProcess:
                pass
        self._reader.join(timeout=10)
        self.popen.stdout.close()
        self._stderr.close()


def still_alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes that exist and are not zombies (a zombie has exited; only its parent may reap it)."""
    _, alive = psutil.wait_procs(processes, timeout=10)
    living = []
    for process in alive:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                living.append(process)
        except psutil.NoSuchProcess:
            pass
    return living


def run_once(var_dir: Path) -> dict:
    """Start the launcher, check what it says and serves, stop it with Ctrl-C, check nothing is left."""
    port = free_port()
    launcher = Launcher(var_dir, port)
    children: list[psutil.Process] = []
    try:
        portal = launcher.wait_for_line(r"Portal: (\S+)")
        login = launcher.wait_for_line(r"Login: (\S+) / (\S+)")
        register = launcher.wait_for_line(r"(\S*)hybridworker register --group (\S+) --endpoint (\S+) --token -")
        key = launcher.wait_for_line(r"Primary access key \(register asks for it\): (\S+)")
        install = launcher.wait_for_line(r"Another machine: curl -fsSL (\S+) \| sh")
        assert portal.group(0) == f"Portal: http://127.0.0.1:{port}/"
        assert register.group(3).startswith(f"http://127.0.0.1:{port}/agentsvc/accounts/")
        assert key.group(1) not in register.group(0)
        # Runs as printed from the checkout: the command by its full path (`make run` puts no venv on PATH).
        command = register.group(1) + "hybridworker"
        assert Path(command).is_absolute(), register.group(0)
        version = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=60, env={})
        assert version.returncode == 0, version.stderr
        script = httpx.get(install.group(1), timeout=30)
        assert script.status_code == 200
        assert script.text.startswith("#!/bin/sh\n")
        for line in launcher.lines:
            assert "\x1b" not in line, f"an escape code in {line!r}"

        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == {"database": "ok", "redis": "ok", "celery": "ok"}

        children = descendants(launcher.popen.pid)
        names = " ".join(" ".join(child.cmdline()) for child in children)
        expected_processes = (
            "redis-server",
            "-m portal.serve",  # daphne, with its access log made safe for webhook URLs
            "celery -A portal worker",
            "celery -A portal beat",
            "hybridworker run",
        )
        for expected in expected_processes:
            assert expected in names, f"{expected} is not among the launcher's processes: {names}"

        status = launcher.interrupt()
        assert status == 0, launcher.diagnostics()
        left = still_alive(children)
        assert not left, f"still running after the launcher exited: {[p.cmdline() for p in left]}"
        return {
            "username": login.group(1),
            "password": login.group(2),
            "line": login.group(0),
            "register": register.group(0).replace(str(port), "PORT"),
        }
    finally:
        launcher.cleanup(children)


@pytest.fixture
def var_dir(tmp_path):
    """As root the local agent runs jobs as `nobody`, who must pass through to its folder: not under
    tmp_path, since every pytest session that starts makes /tmp/pytest-of-root private again."""
    if os.geteuid() != 0:
        yield tmp_path / "var"
        return
    folder = Path(tempfile.mkdtemp(prefix="launcher-"))
    folder.chmod(0o711)
    try:
        yield folder / "var"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def count(database: Path, sql: str, *params) -> int:
    connection = sqlite3.connect(database)
    try:
        return connection.execute(sql, params).fetchone()[0]
    finally:
        connection.close()


@pytest.mark.timeout(900)
def test_the_launcher_starts_everything_stops_everything_and_starts_again(var_dir):

    first = run_once(var_dir)
    assert first["username"] == "admin"
    password_file = var_dir / "secrets" / "admin_password"
    assert password_file.read_text().strip() == first["password"]

    second = run_once(var_dir)
    assert second["line"] == first["line"]
    assert second["register"] == first["register"]

    database = var_dir / "portal.sqlite3"
    assert count(database, "SELECT COUNT(*) FROM auth_user WHERE username = ?", "admin") == 1
    assert count(database, "SELECT COUNT(*) FROM auth_user") == 1
    assert count(database, "SELECT COUNT(*) FROM automation_automationaccount") == 1
    assert count(database, "SELECT COUNT(*) FROM automation_membership") == 1
    # The local agent: registered on the first start, renewed (not duplicated) on the second.
    assert count(database, "SELECT COUNT(*) FROM automation_hybridworkergroup WHERE name = ?", "local") == 1
    assert count(database, "SELECT COUNT(*) FROM automation_hybridworker") == 1
    assert count(database, "SELECT COUNT(*) FROM automation_hybridworker WHERE last_seen_at IS NOT NULL") == 1

    secrets_dir = var_dir / "secrets"
    files = sorted(path.name for path in secrets_dir.iterdir())
    assert {"admin_password", "secret_key", "account_key_encryption_key"} <= set(files)
    for path in secrets_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path.name} is {oct(path.stat().st_mode)}"
    assert stat.S_IMODE(secrets_dir.stat().st_mode) & 0o077 == 0, "the secrets folder is open to others"


@pytest.mark.sqlite
def test_a_redis_url_from_a_file_means_no_private_redis(monkeypatch, tmp_path):
    """REDIS_URL_FILE names the Redis as REDIS_URL does; a private one would also set REDIS_URL, and the
    settings refuse both."""
    from portal.launcher import Launcher as PortalLauncher

    (tmp_path / "redis_url").write_text("redis://127.0.0.1:6390/0\n")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_URL_FILE", str(tmp_path / "redis_url"))
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    launcher = PortalLauncher()
    launcher.logs.mkdir(parents=True)
    try:
        launcher.start_redis()

        assert launcher.children == []
        assert "REDIS_URL" not in launcher.env
    finally:
        launcher.stop_all()
