"""What can go wrong in a command, and the exit status each failure ends with."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
# argparse uses 2 for bad arguments; a second `run` on a busy state folder, and a --run-as it cannot honour, share it.
EXIT_USAGE = 2
EXIT_BUSY = EXIT_USAGE
# Not registered (never, or removed): restarting cannot help, so the systemd unit does not.
EXIT_NOT_REGISTERED = 3


class AgentError(Exception):
    """A failure with a message written for the person at the terminal; no traceback is shown."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class NotRegistered(AgentError):
    exit_code = EXIT_NOT_REGISTERED
