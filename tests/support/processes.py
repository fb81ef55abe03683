"""Real server processes for tests: daphne and a Celery worker, on the test's database and Redis."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.support.postgres import free_port

BASE_DIR = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# How long a server process may take to come up. On a busy machine (two cores, other suites beside this
# one) importing Django and the first page can take tens of seconds; only a failure waits this long.
STARTUP_SECONDS = 120
# One readiness probe: a slow first answer is still an answer (a refused connection fails at once).
PROBE_SECONDS = 10


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path):
        self.name = name
        self.log = log
        self._handle = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args, cwd=BASE_DIR, env=env, stdout=self._handle, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
            except ProcessLookupError:
                pass
        self._handle.close()


def start_daphne(env: dict[str, str], log_dir: Path) -> tuple[Process, str]:
    port = free_port()
    env = {**env, "PORT": str(port), "PORTAL_BASE_URL": f"http://127.0.0.1:{port}"}
    process = Process(
        "daphne",
        [sys.executable, "-m", "portal.serve", "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
        env,
        log_dir / f"daphne-{port}.log",
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"daphne exited early:\n{process.output()}")
        try:
            httpx.get(url + "/login/", timeout=PROBE_SECONDS)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"daphne did not answer within {STARTUP_SECONDS} s:\n{process.output()}")


def start_celery_worker(env: dict[str, str], log_dir: Path) -> Process:
    process = Process(
        "celery",
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo", "--loglevel", "INFO"],
        env,
        log_dir / f"celery-{time.monotonic_ns()}.log",
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"celery worker exited early:\n{process.output()}")
        if "ready." in process.output():
            return process
        time.sleep(0.2)
    process.stop()
    raise RuntimeError(f"celery worker not ready within {STARTUP_SECONDS} s:\n{process.output()}")


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
