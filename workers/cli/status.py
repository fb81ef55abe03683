"""`hybridworker status`: the registration and the service's state (see workers.status)."""

from __future__ import annotations

import argparse

from workers.cli.options import Parents
from workers.console import Console
from workers.state import StateDir

NAME = "status"


def add(commands: argparse._SubParsersAction, parents: Parents) -> None:
    commands.add_parser(NAME, parents=[parents.state_dir], help="show the registration and the service's state")


def handle(args: argparse.Namespace, console: Console, state: StateDir) -> int:
    from workers.status import status

    return status(state, console)
