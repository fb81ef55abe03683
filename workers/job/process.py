"""A runbook's process group: its pipes and exit as the event loop sees them, and how the group is ended.

A runbook runs in a session of its own, so it and everything it starts form one process group: Stop, a
timeout or a lost lease ends the whole group (SIGTERM, then SIGKILL after the stop grace period), and
nothing a runbook leaves behind outlives its job.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import time
from collections.abc import Callable

import psutil

from workers.streams import LineSplitter

# How long to wait for a process group to die after SIGKILL.
KILL_WAIT_SECONDS = 10.0

_LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def die_with_agent() -> None:
    """In the runbook's process, after it took the run-as identity (which would clear the setting): if the
    agent is killed outright (SIGKILL, OOM), the runbook goes with it rather than running on unsupervised."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def signal_group(pgid: int, sig: int) -> bool:
    """Send a signal to a whole process group; False when nothing is left of it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # some member runs as another user; the others got it
    return True


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies waiting for their parent do not count)."""
    if not signal_group(pgid, 0):
        return False
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False


async def end_group(pgid: int, grace: float, leader_exited: asyncio.Future) -> None:
    """SIGTERM the group, give it `grace` seconds to go, then SIGKILL whatever is left of it."""
    if not signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if leader_exited.done() and not group_alive(pgid):
            return
    signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while time.monotonic() < deadline and not (leader_exited.done() and not group_alive(pgid)):
        await asyncio.sleep(0.05)


class RunbookProtocol(asyncio.SubprocessProtocol):
    """The runbook's pipes: lines of fd 1 and 2 to `on_line`; futures for its exit and for both pipes closing.

    (asyncio's Process.wait() waits for the pipes too, which a background child may hold open for ever.)
    """

    def __init__(self, on_line: Callable[[int, str], None], loop: asyncio.AbstractEventLoop) -> None:
        self.on_line = on_line
        self.splitters = {1: LineSplitter(), 2: LineSplitter()}
        self.exited: asyncio.Future = loop.create_future()
        self.pipes_closed: asyncio.Future = loop.create_future()
        self._open = {1, 2}

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        for line in self.splitters[fd].feed(data):
            self.on_line(fd, line)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.flush(fd)
        self._open.discard(fd)
        if not self._open and not self.pipes_closed.done():
            self.pipes_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def flush(self, *fds: int) -> None:
        for fd in fds or tuple(self.splitters):
            for line in self.splitters[fd].close():
                self.on_line(fd, line)
