"""`hybridworker diagnose`: the checks of the Troubleshooting section (see workers.diagnose)."""

from __future__ import annotations

import argparse

from workers.cli.options import Parents, add_endpoint
from workers.console import Console
from workers.state import StateDir

NAME = "diagnose"


def add(commands: argparse._SubParsersAction, parents: Parents) -> None:
    parser = commands.add_parser(
        NAME,
        parents=[parents.state_dir, parents.ca_bundle],
        help="check what registration and heartbeats need (Troubleshooting)",
        description="Check the endpoint, TLS, credential, clock, resources, state folder and service.",
    )
    add_endpoint(parser, required=False, help="check this endpoint (e.g. before registering)")


def handle(args: argparse.Namespace, console: Console, state: StateDir) -> int:
    from workers.diagnose import diagnose

    return diagnose(state, console, endpoint_url=args.endpoint, ca_bundle=args.ca_bundle)
