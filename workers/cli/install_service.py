"""`hybridworker install-service`: a systemd unit that runs this worker (see workers.systemd)."""

from __future__ import annotations

import argparse

from workers.cli.options import Parents
from workers.console import Console
from workers.state import StateDir

NAME = "install-service"


def add(commands: argparse._SubParsersAction, parents: Parents) -> None:
    parser = commands.add_parser(
        NAME,
        parents=[parents.state_dir],
        help="install a systemd unit that runs this worker",
        description="Write /etc/systemd/system/hybridworker-<state folder>.service (as root).",
    )
    parser.add_argument("--print", action="store_true", dest="print_only", help="print the unit instead")
    parser.add_argument("--user", metavar="USER", help="run the service as this user")


def handle(args: argparse.Namespace, console: Console, state: StateDir) -> int:
    from workers.systemd import install_service

    return install_service(state, console, print_only=args.print_only, user=args.user)
