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
    parser.add_argument("--run-as", metavar="USER", help="passed on to 'hybridworker run --run-as' in the unit")
    parser.add_argument(
        "--allow-run-as",
        action="append",
        metavar="USER[,USER...]",
        help="passed on to 'hybridworker run --allow-run-as' in the unit (repeatable): the users a group's Run as "
        "may name",
    )


def handle(args: argparse.Namespace, console: Console, state: StateDir) -> int:
    from workers.systemd import install_service

    return install_service(
        state,
        console,
        print_only=args.print_only,
        user=args.user,
        run_as=args.run_as,
        allow_run_as=args.allow_run_as,
    )
