"""The jobs this agent holds, each under the lease the server gave with it: what every heartbeat lists.

The server answers a heartbeat 409 `stale_lease` with the ids it has taken back (the worker was silent
past its lease, e.g. the machine was paused): those runs must end at once, unreported. The heartbeat runs
in a thread of its own and the jobs on the jobs task's event loop, so this is the hand-over between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

Lease = tuple[str, str]  # (job id, lease id)
# The server takes a heartbeat's jobs list (and a long-poll's `stopping` list) up to a worker's largest
# capacity. More are held only for a moment (runs whose end is reported but not yet acknowledged).
MAX_LISTED = 1024


class HeldJobs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_lost: Callable[[list[Lease]], None] | None = None

    def attach(self, loop: asyncio.AbstractEventLoop, on_lost: Callable[[list[Lease]], None]) -> None:
        """`on_lost` runs on `loop` with the leases taken back."""
        with self._lock:
            self._loop, self._on_lost = loop, on_lost

    def detach(self) -> None:
        with self._lock:
            self._loop = self._on_lost = None

    def hold(self, job_id: str, lease: str) -> None:
        with self._lock:
            self._held[job_id] = lease

    def release(self, job_id: str, lease: str) -> None:
        """The job's end was reported (or it was dropped): the heartbeat no longer lists it."""
        with self._lock:
            if self._held.get(job_id) == lease:
                del self._held[job_id]

    def snapshot(self) -> list[dict[str, str]]:
        """The oldest MAX_LISTED: a claim left out is taken back only once it is over a heartbeat old, and
        by then the runs that ended meanwhile no longer fill the list."""
        with self._lock:
            return [{"id": job_id, "lease": lease} for job_id, lease in list(self._held.items())[:MAX_LISTED]]

    def lose(self, leases: list[Lease]) -> list[Lease]:
        """Forget these leases now (the next heartbeat goes without them) and have their runs ended."""
        with self._lock:
            lost = [(job_id, lease) for job_id, lease in leases if self._held.get(job_id) == lease]
            for job_id, _ in lost:
                del self._held[job_id]
            loop, on_lost = self._loop, self._on_lost
        if lost and loop is not None and on_lost is not None:
            # The loop closes when the jobs task ends: then there is no run left to end.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(on_lost, lost)
        return lost
