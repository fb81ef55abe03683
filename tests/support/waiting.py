"""One way for a test to wait: on a condition it can observe, never on a fixed time.

A busy machine (two cores, other suites beside this one) makes every step slower, so a test waits
for the event it expects and gives up only after a generous deadline; a passing wait returns as
soon as the condition holds.
"""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Generous: only a failing test waits this long.
DEADLINE = 45.0


def wait_until(
    condition: Callable[[], T],
    what: str,
    timeout: float = DEADLINE,
    every: float = 0.1,
    context: Callable[[], str] | None = None,
) -> T:
    """Call `condition` until it returns something truthy, and return that.

    On timeout, fail with `what` (and `context()`, e.g. a process's log, if given).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            said = f"\n{context()}" if context else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{said}")
        time.sleep(every)
