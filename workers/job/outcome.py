"""How a job ended, as its end report tells the server."""

from __future__ import annotations

import signal
from typing import NamedTuple

COMPLETED, FAILED, STOPPED = "Completed", "Failed", "Stopped"
SHA_MISMATCH = "the runbook content does not match its SHA-256"
STOPPED_BY_REQUEST = "stopped by request"


class Outcome(NamedTuple):
    status: str
    exit_code: int | None
    reason: str
    # Whether the reason is the agent's own, and so fit for its log: a runbook's own error lines may hold
    # anything (even a secret it printed).
    own_reason: bool


def failure_reason(returncode: int, error_tail: str) -> str:
    if returncode < 0:
        try:
            head = f"ended by signal {signal.Signals(-returncode).name}"
        except ValueError:
            head = f"ended by signal {-returncode}"
    else:
        head = f"exit code {returncode}"
    return f"{head}: {error_tail}" if error_tail else head
