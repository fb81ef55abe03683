"""`hybridworker`: the command line of the Hybrid Runbook Worker agent."""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from workers import __version__
from workers.console import Console
from workers.errors import EXIT_FAILED, EXIT_USAGE, AgentError
from workers.facts import MAX_CAPACITY
from workers.state import StateDir, default_state_dir

DESCRIPTION = (
    "Hybrid Runbook Worker agent: register this machine into a hybrid worker group of an Automation account, "
    "and run the worker service."
)


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


TOKEN_ENV = "HYBRIDWORKER_TOKEN"
NO_KEY = f"no access key: pass --token KEY, --token - (standard input), --token-file FILE, or set {TOKEN_ENV}"


def _one_key(text: str) -> str | None:
    """The key alone: surrounding blanks and the trailing newline dropped; None if anything else is left."""
    key = text.strip()
    return None if any(char.isspace() for char in key) else key


# A key is 64 characters; a file much longer than that is not a key file (nor is /dev/zero to be read to the end).
KEY_FILE_MAX_CHARS = 4096


def _key_from_file(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as file:
            text = file.read(KEY_FILE_MAX_CHARS + 1)
    except OSError as exc:
        raise AgentError(f"cannot read the access key file {path}: {exc.strerror}", exit_code=EXIT_USAGE) from None
    except UnicodeDecodeError:
        raise AgentError(f"the access key file {path} is not text", exit_code=EXIT_USAGE) from None
    key = _one_key(text) if len(text) <= KEY_FILE_MAX_CHARS else None
    if key is None:
        raise AgentError(
            f"the access key file {path} holds more than the key: one line, the key alone", exit_code=EXIT_USAGE
        )
    if not key:
        raise AgentError(f"the access key file {path} is empty", exit_code=EXIT_USAGE)
    return key


def _key_from_stdin() -> str:
    if sys.stdin.isatty():
        try:
            text = getpass.getpass("Access key: ")
        except EOFError:
            text = ""
    else:
        text = sys.stdin.readline()
    key = _one_key(text)
    if not key:
        raise AgentError("no access key on standard input (--token -)", exit_code=EXIT_USAGE)
    return key


def access_key(args: argparse.Namespace) -> tuple[str, str]:
    """The access key and where it came from: the command line first, then the environment.

    Reading it here, after parsing, keeps it out of argparse's messages, and a bad command line
    fails before anything is read from a terminal or a pipe.
    """
    if args.token_file is not None:
        return _key_from_file(args.token_file), f"--token-file {args.token_file}"
    if args.token == "-":
        return _key_from_stdin(), "standard input"
    if args.token is not None:
        if not args.token.strip():
            raise AgentError("--token was given an empty key", exit_code=EXIT_USAGE)
        return args.token.strip(), "--token"
    if TOKEN_ENV in os.environ:
        key = _one_key(os.environ[TOKEN_ENV])
        if not key:
            raise AgentError(
                f"{TOKEN_ENV} is {'set but empty' if key == '' else 'not a key (it holds blanks)'}",
                exit_code=EXIT_USAGE,
            )
        return key, TOKEN_ENV
    raise AgentError(NO_KEY, exit_code=EXIT_USAGE)


def add_endpoint(parser: argparse.ArgumentParser, *, required: bool, help: str) -> None:
    parser.add_argument("--endpoint", "--url", required=required, metavar="URL", help=f"{help} (--url is an alias)")


def add_access_key(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group(
        "access key",
        f"One of --token KEY, --token - or --token-file FILE, else the environment variable {TOKEN_ENV}. "
        "'--token -' and the others keep the key out of the shell's history and of the process list.",
    ).add_mutually_exclusive_group()
    source.add_argument(
        "--token",
        "--key",
        metavar="KEY",
        help=(
            "the account's primary or secondary access key; '-' reads it from standard input, and at a terminal "
            "asks for it without echo (--key is an alias)"
        ),
    )
    source.add_argument(
        "--token-file", type=Path, metavar="FILE", help="read the access key from FILE (one line, the key alone)"
    )


def _bounded(kind: type, low: float, high: float):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low:g} to {high:g}, not {text}")
        return value

    return parse


def _python(path: str) -> str:
    found = shutil.which(path)
    if found is None:
        raise AgentError(f"--python {path}: no such executable")
    return os.path.abspath(found)


def build_parser() -> argparse.ArgumentParser:
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

    parser = argparse.ArgumentParser(prog="hybridworker", description=DESCRIPTION, parents=[state_dir])
    parser.add_argument("--version", action="version", version=f"hybridworker {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    register = commands.add_parser(
        "register",
        parents=[state_dir, verbose, ca_bundle],
        help="register this machine into a hybrid worker group (Add-HybridRunbookWorker)",
        description="Register this machine into a hybrid worker group; the group is created if it does not exist.",
    )
    register.add_argument("--group", required=True, metavar="NAME", help="hybrid worker group to join")
    add_endpoint(register, required=True, help="the URL from the account's Keys blade")
    add_access_key(register)
    register.add_argument("--name", metavar="NAME", help="this worker's name in the group (default: the host name)")

    remove = commands.add_parser(
        "remove",
        parents=[state_dir, verbose, ca_bundle],
        help="remove this machine from its group (Remove-HybridRunbookWorker)",
        description="Unregister this machine and delete its local registration (the machine id is kept).",
    )
    add_endpoint(remove, required=True, help="the URL from the account's Keys blade")
    add_access_key(remove)

    run = commands.add_parser(
        "run",
        parents=[state_dir],
        help="run the worker service (heartbeats and jobs)",
        description=(
            "Run the worker service in the foreground: heartbeats, and the group's jobs up to this worker's "
            "capacity. Exit status 2: another 'run' uses this state folder; 3: the worker is not registered "
            "(or was removed)."
        ),
    )
    run.add_argument("--verbose", "-v", action="store_true", help="log every heartbeat and retry")
    run.add_argument(
        "--capacity",
        type=_bounded(int, 1, MAX_CAPACITY),
        metavar="N",
        help="jobs run at the same time (default: the CPU count)",
    )
    run.add_argument(
        "--python", metavar="PATH", help="interpreter for Python 3 runbooks (default: the one running the agent)"
    )
    run.add_argument(
        "--stop-grace",
        type=_bounded(float, 0, 3600),
        metavar="SECONDS",
        help="after SIGTERM, how long a stopped runbook may take before SIGKILL (default 5)",
    )
    run.add_argument(
        "--shutdown-grace",
        type=_bounded(float, 0, 24 * 3600),
        metavar="SECONDS",
        help="when the service is stopped, how long running jobs may go on before they are stopped (default 30)",
    )
    run.add_argument(
        "--run-as",
        metavar="USER",
        help=(
            "as root: the user runbooks run as (default: 'hybridworker' if that account exists, else 'nobody'); "
            "an agent that is not root runs them as itself"
        ),
    )
    run.add_argument(
        "--max-output-mb",
        type=_bounded(int, 1, 1024 * 1024),
        metavar="MIB",
        help="a job's output cap: past it, its first and last half are kept, the middle left out (default 50)",
    )
    run.add_argument(
        "--keep-sandboxes-days",
        type=_bounded(float, 0, 36500),
        metavar="DAYS",
        help="finished sandboxes older than this are deleted (default 30; at most the last 100 are kept anyway)",
    )

    commands.add_parser("status", parents=[state_dir], help="show the registration and the service's state")

    diagnose = commands.add_parser(
        "diagnose",
        parents=[state_dir, ca_bundle],
        help="check what registration and heartbeats need (Troubleshooting)",
        description="Check the endpoint, TLS, credential, clock, resources, state folder and service.",
    )
    add_endpoint(diagnose, required=False, help="check this endpoint (e.g. before registering)")

    install = commands.add_parser(
        "install-service",
        parents=[state_dir],
        help="install a systemd unit that runs this worker",
        description="Write /etc/systemd/system/hybridworker-<state folder>.service (as root).",
    )
    install.add_argument("--print", action="store_true", dest="print_only", help="print the unit instead")
    install.add_argument("--user", metavar="USER", help="run the service as this user")
    return parser


def dispatch(args: argparse.Namespace, console: Console) -> int:
    # Imported per command: `status` should not pay for what `run` needs, and the other way round.
    state = StateDir(getattr(args, "state_dir", None) or default_state_dir())
    if args.command in ("register", "remove"):
        token, source = access_key(args)
        console.hide(token)
        console.step(f"Using the access key from {source}")
    if args.command == "register":
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
    if args.command == "remove":
        from workers.registration import remove

        return remove(state, console, endpoint_url=args.endpoint, token=token, ca_bundle=args.ca_bundle)
    if args.command == "run":
        from workers.service import run

        return run(
            state,
            console,
            verbose=args.verbose,
            capacity=args.capacity,
            python=_python(args.python) if args.python else None,
            stop_grace=args.stop_grace,
            shutdown_grace=args.shutdown_grace,
            run_as=args.run_as,
            max_output_mb=args.max_output_mb,
            keep_sandboxes_days=args.keep_sandboxes_days,
        )
    if args.command == "status":
        from workers.status import status

        return status(state, console)
    if args.command == "diagnose":
        from workers.diagnose import diagnose

        return diagnose(state, console, endpoint_url=args.endpoint, ca_bundle=args.ca_bundle)
    from workers.systemd import install_service

    return install_service(state, console, print_only=args.print_only, user=args.user)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(join_option_values(sys.argv[1:] if argv is None else argv))
    console = Console(verbose=getattr(args, "verbose", False))
    try:
        return dispatch(args, console)
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


if __name__ == "__main__":
    sys.exit(main())
