"""Celery beat as a real process, its schedule file in a folder of the test's own."""

import sys
import time
from pathlib import Path

from tests.support.processes import STARTUP_SECONDS, Process


def start_celery_beat(env: dict[str, str], log_dir: Path, schedule_dir: Path) -> Process:
    """`celery -A portal beat` on the test's broker; returns once beat has started its scheduler."""
    schedule_dir.mkdir(parents=True, exist_ok=True)
    process = Process(
        "celery-beat",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(schedule_dir / "celerybeat-schedule"),
            "--pidfile",
            str(schedule_dir / "celerybeat.pid"),
        ],
        env,
        log_dir / f"celery-beat-{time.monotonic_ns()}.log",
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"celery beat exited early:\n{process.output()}")
        if "beat: Starting..." in process.output():
            return process
        time.sleep(0.2)
    process.stop()
    raise RuntimeError(f"celery beat did not start within {STARTUP_SECONDS} s:\n{process.output()}")
