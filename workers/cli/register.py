"""`hybridworker register` (Add-HybridRunbookWorker)."""

from __future__ import annotations

import argparse

from workers.cli.access_key import access_key, add_access_key
from workers.cli.options import Parents, add_endpoint
from workers.console import Console
from workers.state import StateDir

NAME = "register"


def add(commands: argparse._SubParsersAction, parents: Parents) -> None:
    parser = commands.add_parser(
        NAME,
        parents=[parents.state_dir, parents.verbose, parents.ca_bundle],
        help="register this machine into a hybrid worker group (Add-HybridRunbookWorker)",
        description="Register this machine into a hybrid worker group; the group is created if it does not exist.",
    )
    parser.add_argument("--group", required=True, metavar="NAME", help="hybrid worker group to join")
    add_endpoint(parser, required=True, help="the URL from the account's Keys blade")
    add_access_key(parser)
    parser.add_argument("--name", metavar="NAME", help="this worker's name in the group (default: the host name)")


def handle(args: argparse.Namespace, console: Console, state: StateDir) -> int:
    token, source = access_key(args)
    console.hide(token)
    console.step(f"Using the access key from {source}")
    from workers.registration import register

    return register(
        state,
        console,
        endpoint_url=args.endpoint,
        token=token,
        group=args.group,
        name=args.name,
        ca_bundle=args.ca_bundle,
    )
