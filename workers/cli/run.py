"""`hybridworker run`: the worker service in the foreground (see workers.service)."""

from __future__ import annotations

import argparse
import os
import shutil

from workers.cli.options import Parents, bounded
from workers.console import Console
from workers.errors import AgentError
from workers.facts import MAX_CAPACITY
from workers.state import StateDir

NAME = "run"


def add(commands: argparse._SubParsersAction, parents: Parents) -> None:
    parser = commands.add_parser(
        NAME,
        parents=[parents.state_dir],
        help="run the worker service (heartbeats and jobs)",
        description=(
            "Run the worker service in the foreground: heartbeats, and the group's jobs up to this worker's "
            "capacity. Exit status 2: another 'run' uses this state folder; 3: the worker is not registered "
            "(or was removed)."
        ),
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log every heartbeat and retry")
    parser.add_argument(
        "--capacity",
        type=bounded(int, 1, MAX_CAPACITY),
        metavar="N",
        help="jobs run at the same time (default: the CPU count)",
    )
    parser.add_argument(
        "--python", metavar="PATH", help="interpreter for Python 3 runbooks (default: the one running the agent)"
    )
    parser.add_argument(
        "--stop-grace",
        type=bounded(float, 0, 3600),
        metavar="SECONDS",
        help="after SIGTERM, how long a stopped runbook may take before SIGKILL (default 5)",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=bounded(float, 0, 24 * 3600),
        metavar="SECONDS",
        help="when the service is stopped, how long running jobs may go on before they are stopped (default 30)",
    )
    parser.add_argument(
        "--run-as",
        metavar="USER",
        help=(
            "as root: the user runbooks run as (default: 'hybridworker' if that account exists, else 'nobody'); "
            "an agent that is not root runs them as itself"
        ),
    )
    parser.add_argument(
        "--allow-run-as",
        action="append",
        metavar="USER[,USER...]",
        help=(
            "as root: the users a hybrid worker group's Run as setting may name for its jobs (repeatable); a job "
            "whose group names a user not listed here fails before it starts. root only when listed by name"
        ),
    )
    parser.add_argument(
        "--max-output-mb",
        type=bounded(int, 1, 1024 * 1024),
        metavar="MIB",
        help="a job's output cap: past it, its first and last half are kept, the middle left out (default 50)",
    )
    parser.add_argument(
        "--keep-sandboxes-days",
        type=bounded(float, 0, 36500),
        metavar="DAYS",
        help="finished sandboxes older than this are deleted (default 30; at most the last 100 are kept anyway)",
    )


def python_executable(path: str) -> str:
    found = shutil.which(path)
    if found is None:
        raise AgentError(f"--python {path}: no such executable")
    return os.path.abspath(found)


def handle(args: argparse.Namespace, console: Console, state: StateDir) -> int:
    from workers.service import run

    return run(
        state,
        console,
        verbose=args.verbose,
        capacity=args.capacity,
        python=python_executable(args.python) if args.python else None,
        stop_grace=args.stop_grace,
        shutdown_grace=args.shutdown_grace,
        run_as=args.run_as,
        allow_run_as=args.allow_run_as,
        max_output_mb=args.max_output_mb,
        keep_sandboxes_days=args.keep_sandboxes_days,
    )
