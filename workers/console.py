"""What the commands print: results on stdout, problems on stderr, never a secret."""

from __future__ import annotations

import sys

from workers.logs import Redactor


class Console:
    def __init__(self, *, verbose: bool = False, redact: Redactor | None = None) -> None:
        self.verbose = verbose
        self.redact = redact or Redactor()

    def hide(self, secret: str | None) -> None:
        self.redact.hide(secret)

    def say(self, message: str = "") -> None:
        print(self.redact(message), flush=True)

    def step(self, message: str) -> None:
        """A -Verbose line, as Add-HybridRunbookWorker -Verbose prints them."""
        if self.verbose:
            print(f"VERBOSE: {self.redact(message)}", flush=True)

    def warn(self, message: str) -> None:
        print(f"warning: {self.redact(message)}", file=sys.stderr, flush=True)

    def error(self, message: str) -> None:
        print(f"error: {self.redact(message)}", file=sys.stderr, flush=True)
