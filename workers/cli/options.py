"""Options that several commands share, so each is named, spelled and explained the same everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workers.state import default_state_dir

# Options that always take a value. Access keys are URL-safe base64 and may start with "-", which
# argparse would take for an option: "--token -abc" is rewritten to "--token=-abc" before parsing.
VALUE_OPTIONS = ("--token", "--key", "--token-file", "--group", "--name", "--endpoint", "--url")


def join_option_values(argv: Sequence[str]) -> list[str]:
    args = list(argv)
    joined: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            joined += args[index:]
            break
        if arg in VALUE_OPTIONS and index + 1 < len(args):
            joined.append(f"{arg}={args[index + 1]}")
            index += 2
            continue
        joined.append(arg)
        index += 1
    return joined


@dataclass(frozen=True)
class Parents:
    """Parent parsers a command takes its shared options from."""

    state_dir: argparse.ArgumentParser
    verbose: argparse.ArgumentParser
    ca_bundle: argparse.ArgumentParser


def parents() -> Parents:
    state_dir = argparse.ArgumentParser(add_help=False)
    state_dir.add_argument(
        "--state-dir",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="DIR",
        help=f"this agent's state folder (default: {default_state_dir()})",
    )
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("--verbose", "-v", action="store_true", help="print each step")
    ca_bundle = argparse.ArgumentParser(add_help=False)
    ca_bundle.add_argument(
        "--ca-bundle", type=Path, metavar="FILE", help="CA certificates (PEM) to trust instead of the system's"
    )
    return Parents(state_dir=state_dir, verbose=verbose, ca_bundle=ca_bundle)


def add_endpoint(parser: argparse.ArgumentParser, *, required: bool, help: str) -> None:
    parser.add_argument("--endpoint", "--url", required=required, metavar="URL", help=f"{help} (--url is an alias)")


def bounded(kind: type, low: float, high: float):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low:g} to {high:g}, not {text}")
        return value

    return parse
