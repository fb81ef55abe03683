"""Where `register` and `remove` take the account's access key from, and how it is kept out of sight.

Reading it after parsing keeps it out of argparse's messages, and a bad command line fails before
anything is read from a terminal or a pipe.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from workers.errors import EXIT_USAGE, AgentError

TOKEN_ENV = "HYBRIDWORKER_TOKEN"
NO_KEY = f"no access key: pass --token KEY, --token - (standard input), --token-file FILE, or set {TOKEN_ENV}"
# A key is 64 characters; a file much longer than that is not a key file (nor is /dev/zero to be read to the end).
KEY_FILE_MAX_CHARS = 4096


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


def _one_key(text: str) -> str | None:
    """The key alone: surrounding blanks and the trailing newline dropped; None if anything else is left."""
    key = text.strip()
    return None if any(char.isspace() for char in key) else key


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
    """The access key and where it came from: the command line first, then the environment."""
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
