"""`hybridworker`: the command line of the Hybrid Runbook Worker agent, a module a command.

Each command module has its NAME, `add(commands, parents)` for its options and `handle(args, console,
state)` to carry it out; it imports what it runs only when it runs, so `status` does not pay for what
`run` needs, and the other way round. Options that several commands share are in workers.cli.options,
the access key's sources in workers.cli.access_key.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from workers import __version__
from workers.cli import asset, diagnose, install_service, register, remove, run, status
from workers.cli.options import join_option_values, parents
from workers.console import Console
from workers.errors import EXIT_FAILED, AgentError
from workers.state import StateDir, default_state_dir

DESCRIPTION = (
    "Hybrid Runbook Worker agent: register this machine into a hybrid worker group of an Automation account, "
    "and run the worker service."
)
# In the order `hybridworker --help` lists them.
COMMANDS = {command.NAME: command for command in (register, remove, run, status, diagnose, install_service, asset)}

__all__ = ["build_parser", "join_option_values", "main"]


def build_parser() -> argparse.ArgumentParser:
    shared = parents()
    parser = argparse.ArgumentParser(prog="hybridworker", description=DESCRIPTION, parents=[shared.state_dir])
    parser.add_argument("--version", action="version", version=f"hybridworker {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        command.add(commands, shared)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(join_option_values(sys.argv[1:] if argv is None else argv))
    console = Console(verbose=getattr(args, "verbose", False))
    try:
        state = StateDir(getattr(args, "state_dir", None) or default_state_dir())
        return COMMANDS[args.command].handle(args, console, state)
    except AgentError as exc:
        console.error(str(exc))
        return exc.exit_code
    except PermissionError as exc:
        console.error(f"permission denied: {exc.filename}. Run as the user that owns it, or pass --state-dir DIR.")
        return EXIT_FAILED
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        console.error(f"{exc.strerror or exc}{where}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
