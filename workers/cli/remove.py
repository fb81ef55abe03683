"""`hybridworker remove` (Remove-HybridRunbookWorker)."""

from __future__ import annotations

import argparse

from workers.cli.access_key import access_key, add_access_key
from workers.cli.options import Parents, add_endpoint
from workers.console import Console
from workers.state import StateDir

NAME = "remove"


def add(commands: argparse._SubParsersAction, parents: Parents) -> None:
    parser = commands.add_parser(
        NAME,
        parents=[parents.state_dir, parents.verbose, parents.ca_bundle],
        help="remove this machine from its group (Remove-HybridRunbookWorker)",
        description="Unregister this machine and delete its local registration (the machine id is kept).",
    )
    add_endpoint(parser, required=True, help="the URL from the account's Keys blade")
    add_access_key(parser)


def handle(args: argparse.Namespace, console: Console, state: StateDir) -> int:
    token, source = access_key(args)
    console.hide(token)
    console.step(f"Using the access key from {source}")
    from workers.registration import remove

    return remove(state, console, endpoint_url=args.endpoint, token=token, ca_bundle=args.ca_bundle)
